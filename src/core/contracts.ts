/**
 * What several stages share, so that none of them has to import a later one:
 * the entry points of generated policies, the extras a bundle carries, the
 * fixed reason texts, and the closed list of error codes. Everything here is
 * data and types; it depends only on the models.
 */
import { type EnterpriseConfig } from '../enterprise/model.js';

export { ERROR_CODES, type ErrorCode } from './errors.js';

/** Package of generated modules; entry points live here. */
export const POLICY_PACKAGE = 'mcp_policy';
/** Package of the static helpers in rego/mcp_policy/lib.rego. */
export const LIB_PACKAGE = 'mcp_policy.lib';
/** Entry point for one request: `input` is the request. */
export const DECISION_ENTRYPOINT = 'mcp_policy/decision';
/** Entry point for a batch: `input` is `{"requests": [...]}`. */
export const BATCH_ENTRYPOINT = 'mcp_policy/decisions';
/** Entry point for the effective enterprise configuration: `input` is `{"local": {...}}`. */
export const CONFIG_ENTRYPOINT = 'mcp_policy/config';

/**
 * The policy sources a provenance can name: the Admin Console, Docker's
 * admin-settings.json, a bare policy given as the admin policy (counted as
 * locked), the user's own policy, or none.
 */
export const PROVENANCE_POLICIES = ['admin-console', 'admin-settings', 'policy', 'user', 'none'] as const;

/** Which of several policy sources is in force, and why. */
export interface Provenance {
  readonly policy: (typeof PROVENANCE_POLICIES)[number];
  readonly why: string;
}

/** What a bundle may carry besides the policy. */
export interface CompileExtras {
  /** Enterprise directives, checked before the rules and answered by the `config` entry point. */
  readonly enterprise?: EnterpriseConfig;
  /** Which policy source is in force and why (see resolvePolicyLayers). */
  readonly provenance?: Provenance;
  /** Case tables to embed as the bundle's self-test (`compile --cases`). */
  readonly cases?: readonly EmbeddedCases[];
}

/** Where a bundle built with `compile --cases` keeps its case tables: `data.mcp_policy_selftest.tables`. */
export const SELF_TEST_ROOT = 'mcp_policy_selftest';

/** A case table as embedded in a bundle: its name and its request cases (the case-table format of cases.ts). */
export interface EmbeddedCases {
  readonly name: string;
  readonly requests: readonly { readonly note?: string; readonly request: unknown; readonly expect: object }[];
}

/** Reason text for a rule that has no `reason` of its own. */
export function ruleReason(index: number, allow: boolean): string {
  return `${allow ? 'allowed' : 'denied'} by rule ${index}`;
}

/** Reason text when no rule matched. */
export function defaultReason(defaultDecision: 'allow' | 'deny'): string {
  return `no rule matched; default ${defaultDecision}`;
}

/** Reason for a request that is not well-formed. */
export const INVALID_REQUEST_REASON = 'invalid request';

/** Reason for a decision that could not be computed. */
export const EVALUATION_FAILED_REASON = 'evaluation failed';

/**
 * The key an editor reads a document's JSON Schema from. Policies,
 * admin-settings, bare enterprise directive maps and case tables accept it at
 * their top level, as a string, and ignore it.
 */
export const SCHEMA_KEY = '$schema';
