/**
 * The validated policy model and the request/decision shapes every engine
 * shares. The semantics are written up in docs/semantics.md.
 */

/** What a request asks to do. A request without an action means `invoke`. */
export const ACTIONS = ['load', 'invoke', 'prompt'] as const;
export type Action = (typeof ACTIONS)[number];

export const SERVER_TYPES = ['registry', 'image', 'remote'] as const;
export type ServerType = (typeof SERVER_TYPES)[number];

export const TRANSPORTS = ['stdio', 'sse', 'streamable'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/**
 * What a request's `target` may name, as Docker's gateway sends it (a prompt
 * is asked about as `tool`). A request whose target names anything else is
 * not a question a policy answers, and is invalid.
 */
export const TARGET_TYPES = ['catalog', 'workingSet', 'server', 'tool'] as const;

/** The request fields a rule can constrain; all are strings when present. */
export const REQUEST_FIELDS = ['action', 'server', 'serverType', 'serverSource', 'transport', 'tool'] as const;
export type RequestField = (typeof REQUEST_FIELDS)[number];

/**
 * The longest request field (of {@link REQUEST_FIELDS}), in characters (code
 * points). A longer field makes the request invalid in every engine: it bounds
 * what matching one request can cost, whatever the patterns.
 */
export const MAX_FIELD_LENGTH = 65_536;

/** One validated rule. Absent constraints are `undefined`, never empty. */
export interface Rule {
  readonly action?: Action;
  readonly server?: string;
  readonly serverType?: ServerType;
  readonly serverSource?: string;
  readonly transport?: Transport;
  /** Non-empty when present. */
  readonly tools?: readonly string[];
  /** The decision; `deny: true` in the source becomes `allow: false`. */
  readonly allow: boolean;
  readonly reason?: string;
}

/** A validated policy: ordered rules, first match wins, else the default. */
export interface Policy {
  readonly version: 1;
  readonly default: 'allow' | 'deny';
  readonly rules: readonly Rule[];
}

/** Where a policy came from, as far as layering is concerned. */
export interface PolicySource {
  readonly kind: 'policy' | 'admin-settings';
  /** Docker's `mcpPolicy.locked`, for admin-settings.json. */
  readonly locked?: boolean;
}

/**
 * A host's question. Known fields must be strings when present; `target`,
 * when present and not null, must name one of {@link TARGET_TYPES}; other
 * fields (`catalog`, `workingSet`, ...) are ignored.
 */
export interface PolicyRequest {
  action?: string;
  server?: string;
  serverType?: string;
  serverSource?: string;
  transport?: string;
  tool?: string;
  [extra: string]: unknown;
}

/** An engine's answer. `rule` is the 0-based index of the deciding rule, or null for the default. */
export interface Decision {
  allowed: boolean;
  reason: string;
  rule: number | null;
  /** Present only when the request was invalid or evaluation failed; such decisions always deny. */
  error?: string;
  /** The enterprise directive that decided, when one did (the rules were not consulted). */
  directive?: string;
  /** Present while the Enterprise Manager is unreachable: what to tell the user. */
  warning?: string;
}

export { defaultReason, EVALUATION_FAILED_REASON, INVALID_REQUEST_REASON, ruleReason } from '../core/contracts.js';

import { EVALUATION_FAILED_REASON } from '../core/contracts.js';

/** The fail-closed decision returned when an engine cannot answer. */
export function failedDecision(error: string): Decision {
  return { allowed: false, reason: EVALUATION_FAILED_REASON, rule: null, error };
}
