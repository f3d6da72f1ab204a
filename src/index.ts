/**
 * mcp-policy: validate MCP governance policies, compile them to Rego and
 * WebAssembly, and decide requests with any of three engines that agree
 * decision for decision.
 *
 * Stages (see ARCHITECTURE.md): parse/validate → lower → emit Rego → build
 * WebAssembly → evaluate.
 */

/** Errors: every one has a stable `code`; policy problems carry JSON pointers. */
export { type Issue, McpPolicyError, OpaError, PolicyValidationError, WasmError } from './errors.js';

/** The policy model, the request and decision shapes, and the fixed reason texts. */
export {
  ACTIONS,
  type Action,
  type Decision,
  type Policy,
  type PolicyRequest,
  type PolicySource,
  type Rule,
  SERVER_TYPES,
  TRANSPORTS,
} from './policy/model.js';

/** Parsing and validation: {@link parsePolicy} reports every problem; {@link loadPolicyText} throws. */
export {
  ensureValidPolicy,
  loadPolicyText,
  parsePolicy,
  validatePolicyValue,
  type ValidationResult,
} from './policy/validate.js';

/** Policy files on disk. */
export { checkPolicyFile, loadPolicyFile } from './policy/file.js';

/** Rego generation and the WebAssembly build (the latter needs the pinned opa CLI). */
export {
  compilePolicy,
  type CompiledPolicy,
  generateRego,
  regoSources,
  type RegoSources,
  writeOutput,
} from './compile.js';

/** Entry points of generated policies, for hosts that load bundles with their own OPA tooling. */
export { BATCH_ENTRYPOINT, DECISION_ENTRYPOINT } from './contracts.js';

/** Every error and warning code the library reports; each is documented in docs/semantics.md. */
export { ERROR_CODES, type ErrorCode } from './errors.js';

/**
 * The request boundary every engine applies first: {@link readRequestValue}
 * copies a plain JSON request or says why it is not one, within
 * {@link MAX_REQUEST_DEPTH} and {@link MAX_REQUEST_SIZE}.
 */
export { MAX_REQUEST_DEPTH, MAX_REQUEST_SIZE, readRequestValue } from './engines/request-boundary.js';

/** Repairs an output folder a killed `compile`/{@link writeOutput} left aside (restores or removes `.<name>.old`). */
export { recoverOutput } from './output-folder.js';

/** Engines: one interface, three evaluators, and a helper that opens any of them on a policy. */
export { type Engine, ENGINE_NAMES, type EngineName, parseEngineList } from './engines/engine.js';
export { NativeEngine } from './engines/native.js';
export { OpaEngine } from './engines/opa.js';
export { openEngine } from './engines/open.js';
export { WasmEngine } from './engines/wasm.js';

/** The pinned opa release and how it is found (OPA_BIN, the project-local install, PATH). */
export { OPA_VERSION, resolveOpa } from './opa/cli.js';

/** Bundles: reading policy.wasm and data.json out of a bundle.tar.gz. */
export { readWasmBundle, type WasmBundle } from './bundle.js';

/** Enterprise directives: parsing and validation (YAML or JSON, every shape), and the effective configuration. */
export {
  BUILTIN_VALUES,
  type DegradedMode,
  type Directive,
  type EffectiveConfig,
  type EnterpriseConfig,
  KNOWN_DIRECTIVES,
} from './enterprise/model.js';
export {
  isEnterpriseConfigText,
  isEnterpriseConfigValue,
  parseEnterpriseConfig,
  validateLocalSettings,
} from './enterprise/validate.js';
export { effectiveConfig } from './enterprise/effective.js';

/** Docker's layering of Admin Console, admin-settings.json and user policies. */
export {
  type BundleSources,
  NO_POLICY,
  type PolicyLayer,
  type PolicyLayers,
  resolveBundleSources,
  resolvePolicyLayers,
} from './policy/layers.js';

/** What a bundle may carry besides the policy, and the entry point of the effective configuration. */
export { type CompileExtras, CONFIG_ENTRYPOINT, type Provenance } from './contracts.js';

// Test machinery (difftest, case tables, generators) is in the `mcp-policy/testing` entry point (src/testing.ts).
