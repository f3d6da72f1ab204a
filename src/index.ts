/**
 * mcp-policy: validate MCP governance policies, compile them to Rego and
 * WebAssembly, and decide requests with any of three engines that agree
 * decision for decision.
 *
 * Stages (see ARCHITECTURE.md): parse/validate → lower → emit Rego → build
 * WebAssembly → evaluate.
 */

/** Errors: every one has a stable `code`; policy problems carry JSON pointers. */
export { type Issue, McpPolicyError, OpaError, PolicyValidationError, WasmError } from './core/errors.js';

/**
 * The policy model, the request and decision shapes, the fixed reason texts,
 * and the request field length limit ({@link MAX_FIELD_LENGTH}, code points).
 */
export {
  ACTIONS,
  type Action,
  type Decision,
  MAX_FIELD_LENGTH,
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
  generatePolicy,
  generateRego,
  regoSources,
  type RegoSources,
  writeOutput,
} from './pipeline/build.js';

/**
 * Deciding a stream of JSON Lines in bounded memory, as `mcp-policy eval` does:
 * batches through any engine, decisions written in order with back-pressure.
 */
export {
  decideStream,
  type DecisionSink as DecisionOutput,
  openRequestFile,
  type StreamOptions,
} from './engines/stream.js';

/** Entry points of generated policies, for hosts that load bundles with their own OPA tooling. */
export { BATCH_ENTRYPOINT, DECISION_ENTRYPOINT } from './core/contracts.js';

/** Every error and warning code the library reports; each is documented in docs/semantics.md. */
export { ERROR_CODES, type ErrorCode } from './core/errors.js';

/**
 * The request boundary every engine applies first: {@link readRequestValue}
 * copies a plain JSON request or says why it is not one, within
 * {@link MAX_REQUEST_DEPTH} and {@link MAX_REQUEST_SIZE}.
 */
export { MAX_REQUEST_DEPTH, MAX_REQUEST_SIZE, readRequestValue } from './engines/request-boundary.js';

/** Repairs an output folder a killed `compile`/{@link writeOutput} left aside (restores or removes `.<name>.old`). */
export { recoverOutput } from './bundle/output-folder.js';

/** Engines: one interface, three evaluators, and a helper that opens any of them on a policy. */
export { type Engine, ENGINE_NAMES, type EngineName, parseEngineList } from './engines/engine.js';
export { NativeEngine } from './engines/native.js';
export { OpaEngine } from './engines/opa.js';
export { openEngine } from './engines/open.js';
export { WasmEngine } from './engines/wasm.js';

/** The pinned opa release and how it is found (OPA_BIN, the project-local install, PATH). */
export { OPA_VERSION, resolveOpa } from './opa/cli.js';

/**
 * Bundles: reading policy.wasm and data.json out of a bundle.tar.gz, bounded
 * and checked (coded {@link BundleError}s; a content-hash revision verified).
 */
export {
  BUNDLE_ERROR_CODES,
  BundleError,
  type BundleErrorCode,
  type BundleManifest,
  contentRevision,
  DEFAULT_MAX_BUNDLE_BYTES,
  type ReadBundleOptions,
  readWasmBundle,
  type WasmBundle,
} from './bundle/read.js';

/**
 * Signed bundles: verifying OPA's `.signatures.json` with a public key or secret (as WasmEngine.load does).
 * File hashes use the Web Crypto API unless a {@link FileDigest} is given; `nodeDigest` adds OPA's MD5 and
 * SHA-224 family.
 */
export { type FileDigest, type VerificationOptions, verifyBundleSignature } from './bundle/signature.js';
export { nodeDigest } from './bundle/read.js';

/** Options of WasmEngine.load (data, size bound, verification key) and of signing at compile time. */
export { type WasmLoadOptions } from './engines/wasm.js';
export { type SigningOptions } from './pipeline/build.js';

/** Fleets: the bundle service OPA servers and hosts poll, with the revision as ETag. */
export { type BundleService, type BundleServiceOptions, startBundleService } from './fleet/bundle-service.js';

/** Fleets: the OPA configuration that pulls a bundle from a bundle service and verifies it. */
export { opaConfig, type OpaConfigOptions } from './fleet/opa-config.js';

/** Fleets: decision logs uploaded in OPA's format (gzip batches to `<service>/logs`) for OPA log collectors. */
export {
  type OpaDecisionEvent,
  OpaDecisionLogUploader,
  toOpaEvent,
  type UploaderOptions,
  type UploaderStats,
} from './fleet/decision-log.js';

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
export { type CompileExtras, CONFIG_ENTRYPOINT, type Provenance } from './core/contracts.js';

// Test machinery (difftest, case tables, generators) is in the `mcp-policy/testing` entry point (src/testing.ts).

/** Exact lint of a policy: shadowed and redundant rules, blocked tools, impossible combinations, one-decision policies. */
export {
  LINT_CODES,
  LINT_SEVERITY,
  type LintCode,
  type LintFinding,
  lintPolicy,
  type LintResult,
} from './analysis/lint.js';

/** Exact semantic diff of two policy versions, and replay of recorded requests through both. */
export {
  type DiffChange,
  type DiffKind,
  diffPolicies,
  type DiffResult,
  type DiffSide,
  readRecordedRequests,
  type ReplayChange,
  replayRequests,
  type ReplayResult,
} from './analysis/diff.js';

/** A request walked through a policy rule by rule, with the failing field of each rule that did not match. */
export { explainDecision, type Explanation, type FieldMismatch, type RuleTrace } from './analysis/explain.js';

/** Coverage of a case table: rules no request exercised, outcomes never seen. */
export { type Coverage, tableCoverage } from './analysis/coverage.js';

/** Field constraints of a region of requests, as analysis results describe them. */
export { type BoxDescription } from './analysis/region.js';
/** Opening an engine on a bundle or policy files (with the layering and enterprise options), issues returned. */
export { openSources, type PolicySources, type SourceIssue } from './host/sources.js';
/**
 * The MCP proxy: {@link startProxy} runs a policy-enforcing proxy in front of
 * one MCP server; {@link PolicyGate} is its enforcement, usable by other hosts;
 * {@link Relay} relays one session between two SDK transports under a gate.
 */
export { type ProxyOptions, type RunningProxy, startProxy } from './proxy/proxy.js';
export { type Listed, PolicyGate, type Verdict } from './proxy/enforce.js';
export { Relay } from './proxy/relay.js';
/** The request facts of a governed server, given or derived from its command line or URL. */
export { type ServerFacts, serverFacts, serverNameFromCommand, type ServerTarget } from './proxy/facts.js';
/** Tool pinning: digests of tool definitions and the lock file. */
export { type LockFile, readLockFile, toolDigest, ToolPins } from './proxy/pins.js';

/** The decision service behind `mcp-policy serve`: start one, or reuse its decision-log sinks. */
export { type ServeHandle, type ServeOptions, startServe } from './server/service.js';
/**
 * Decision records and sinks, shared by serve, the proxy and the OPA uploader: `write` never blocks or throws;
 * drops are counted. Implement `DecisionLogSink` to add a transport.
 */
export {
  type AuditRecord,
  type DecisionLogSink,
  type DecisionRecord,
  type DropReason,
  FanoutSink,
  type FileSinkOptions,
  JsonlFileSink,
  JsonlStreamSink,
  type LogRecord,
  openDecisionLog,
  type SinkOptions,
  type SinkStats,
} from './host/decision-log.js';
/** Case tables embedded in a bundle as its self-test (`compile --cases`). */
export { type EmbeddedCases, readEmbeddableCases } from './testing/cases.js';
