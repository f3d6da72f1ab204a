/**
 * The one interface every evaluator implements, so hosts, the CLI and the
 * tests can swap engines and compare them decision for decision.
 */
import { McpPolicyError } from '../core/errors.js';
import { type Decision, failedDecision, type PolicyRequest } from '../policy/model.js';

/**
 * The evaluators mcp-policy ships: `native` (TypeScript), `wasm` (the bundle
 * in @open-policy-agent/opa-wasm), `opa` (OPA's interpreter on the generated
 * Rego) and `go-wasm` (the same WebAssembly run by `opa eval -t wasm`).
 */
export const ENGINE_NAMES = ['native', 'wasm', 'opa', 'go-wasm'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/** Parses a comma-separated engine list, or `all`; throws `usage` naming an unknown engine. */
export function parseEngineList(text: string): EngineName[] {
  if (text.trim() === 'all') return [...ENGINE_NAMES];
  const names = text.split(',').map((s) => s.trim());
  for (const n of names) {
    if (!(ENGINE_NAMES as readonly string[]).includes(n)) {
      throw new McpPolicyError(
        'usage',
        `unknown engine ${JSON.stringify(n)}; expected ${ENGINE_NAMES.join(', ')} or all`,
      );
    }
  }
  return names as EngineName[];
}

/**
 * An evaluator of one policy. Engines never throw for a bad request or a
 * failed evaluation: they answer with a denying decision that carries an
 * `error` (fail closed). Every request is first read by the one request
 * boundary (request-boundary.ts), so all engines decide the same JSON data.
 */
export interface Engine {
  readonly name: EngineName;
  /** Decides one request. */
  decide(request: unknown): Promise<Decision>;
  /** Decides many requests; the answers are in request order, one per request. */
  decideBatch(requests: readonly unknown[]): Promise<Decision[]>;
  /**
   * The effective enterprise configuration for a client's local settings,
   * and why (bundles compiled with an enterprise config only; otherwise throws
   * `no_enterprise_config`).
   */
  config(local: Readonly<Record<string, unknown>>): Promise<unknown>;
  /** Releases what the engine holds (temporary files, memory). */
  close(): Promise<void>;
  /**
   * The last failure of a tool the engine runs (the opa CLI), as opposed to a
   * policy answer; the decisions concerned failed closed. Lets a host report
   * a broken tool as such rather than as a run of denials. Engines that run
   * no tool leave it undefined.
   */
  readonly toolError?: McpPolicyError | undefined;
}

/**
 * The request that shows which policy version an engine decides by: only
 * version 2 knows the `resource` action, and every version checks the action
 * before anything else a request holds (directives included), so the answer
 * does not depend on how a bundle was built or what its data looks like.
 * Hosts that map requests differently per version (AuthZEN, the proxy) ask it
 * once per engine; extra fields may be added to it.
 */
export const VERSION_PROBE: Readonly<PolicyRequest> = { action: 'resource', resource: 'mcp-policy:version' };

/**
 * The version a decision on {@link VERSION_PROBE} shows: 1 when the action is
 * unknown; anything else, a failure included, is version 2, whose requests
 * carry more that can deny.
 */
export function versionFromProbe(decision: Decision): 1 | 2 {
  return decision.error === 'unknown action "resource"' ? 1 : 2;
}

/** The error for asking `config` of a policy compiled without enterprise directives. */
export function noEnterpriseConfig(): McpPolicyError {
  return new McpPolicyError('no_enterprise_config', 'this policy was compiled without an enterprise config');
}

/**
 * Checks an answer that crossed an engine boundary (wasm memory, an opa
 * process) before a host acts on it: anything but a well-formed decision is
 * an error, and an allow that carries an error is turned into a denial.
 */
export function checkedDecision(value: unknown): Decision | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'policy returned no decision';
  const v = value as Record<string, unknown>;
  if (typeof v.allowed !== 'boolean' || typeof v.reason !== 'string') return 'policy returned a malformed decision';
  if (!(v.rule === null || (typeof v.rule === 'number' && Number.isInteger(v.rule) && v.rule >= 0))) {
    return 'policy returned a malformed decision';
  }
  const decision: Decision = { allowed: v.allowed, reason: v.reason, rule: v.rule };
  if (typeof v.directive === 'string') decision.directive = v.directive;
  if (typeof v.warning === 'string') decision.warning = v.warning;
  if (v.error !== undefined) {
    decision.error = typeof v.error === 'string' ? v.error : JSON.stringify(v.error);
    decision.allowed = false;
  }
  return decision;
}

/** The error of every decision of a batch answered with the wrong number of decisions. */
export const WRONG_COUNT_ERROR = 'policy returned the wrong number of decisions';

/** Checks a batch answer: the wrong count fails every request (they cannot be matched up), otherwise each is checked. */
export function checkedBatch(value: unknown, expected: number): Decision[] {
  if (!Array.isArray(value) || value.length !== expected) {
    return Array.from({ length: expected }, () => failedDecision(WRONG_COUNT_ERROR));
  }
  return value.map((v) => {
    const checked = checkedDecision(v);
    return typeof checked === 'string' ? failedDecision(checked) : checked;
  });
}
