/**
 * mcp-policy: validate MCP governance policies, compile them to Rego and
 * WebAssembly, and decide requests with engines that agree decision for
 * decision. This entry holds what a host embedding decisions needs; the
 * decision service, the proxy, fleets, analysis and test machinery are on
 * subpaths (`mcp-policy/server`, `/proxy`, `/fleet`, `/analysis`, `/testing`,
 * and the portable loader `mcp-policy/wasm`).
 *
 * Stages (see ARCHITECTURE.md): validate → lower → emit Rego → build
 * WebAssembly → decide.
 */

/**
 * Errors: every one has a stable `code` from {@link ERROR_CODES}; policy
 * problems are {@link Issue}s with JSON pointers.
 */
export {
  ERROR_CODES,
  type ErrorCode,
  type Issue,
  McpPolicyError,
  OpaError,
  PolicyValidationError,
  WasmError,
} from './core/errors.js';

/** The one result shape of every validation: `value` exactly when `errors` is empty, warnings either way. */
export { type Validation } from './core/validation.js';

/**
 * The policy model, the request and decision shapes, and the request field
 * length limit ({@link MAX_FIELD_LENGTH}, code points).
 */
export { type Decision, MAX_FIELD_LENGTH, type Policy, type PolicyRequest, type Rule } from './policy/model.js';

/**
 * Validation of a policy text or value ({@link parsePolicy} reports every
 * problem; {@link loadPolicyText} throws a {@link PolicyValidationError}).
 */
export { loadPolicyText, parsePolicy, validatePolicyValue } from './policy/validate.js';

/** A policy file on disk, validated; throws like {@link loadPolicyText}. */
export { loadPolicyFile } from './policy/file.js';

/** The WebAssembly build (needs the pinned opa CLI) and the atomic output folder. */
export { compilePolicy, type CompiledPolicy, writeOutput } from './pipeline/build.js';

/** Repairs an output folder a killed `compile`/{@link writeOutput} left aside. */
export { recoverOutput } from './bundle/output-folder.js';

/** Engines: one interface; `native`, `wasm`, `opa` and `go-wasm` behind it. */
export { type Engine, ENGINE_NAMES, type EngineName } from './engines/engine.js';

/** The reference engine: interprets a validated policy in TypeScript, no WebAssembly or opa needed. */
export { NativeEngine } from './engines/native.js';

/** The shipped engine: a compiled bundle in opa-wasm, with synchronous single and batch decisions. */
export { WasmEngine, type WasmLoadOptions } from './engines/wasm.js';

/** Opens any engine on a validated policy, compiling what it needs. */
export { openEngine } from './engines/open.js';

/**
 * The one way to open an engine or a bundle from files: a bundle or policy,
 * Stacklok enterprise config, Admin Console and user policies, verification;
 * every problem reported with its file.
 */
export { openSources, type PolicySources, type SourceIssue } from './host/sources.js';

/**
 * Deciding a stream of JSON Lines in bounded memory, as `mcp-policy eval` does:
 * batches through any engine, decisions written in order with back-pressure.
 */
export { decideStream } from './engines/stream.js';

/** The request boundary every engine applies first: a bounded copy of a plain JSON request, or why it is not one. */
export { readRequestValue } from './engines/request-boundary.js';

/** Stacklok enterprise configuration: parsing (YAML or JSON, every shape) and the effective configuration. */
export { parseEnterpriseConfig } from './enterprise/validate.js';

/** A validated enterprise configuration. */
export { type EnterpriseConfig } from './enterprise/model.js';

/** The effective configuration for a client's local settings, and where each value comes from. */
export { effectiveConfig } from './enterprise/effective.js';

/** Reading policy.wasm and data.json out of a bundle.tar.gz, bounded and checked (coded {@link BundleError}s). */
export { BundleError, readWasmBundle } from './bundle/read.js';

/** Verifies OPA's `.signatures.json` of a bundle with a public key or secret, as {@link WasmEngine.load} does. */
export { verifyBundleSignature } from './bundle/signature.js';

/** Entry points of generated policies, for hosts that load bundles with their own OPA tooling. */
export { BATCH_ENTRYPOINT, DECISION_ENTRYPOINT } from './core/contracts.js';
