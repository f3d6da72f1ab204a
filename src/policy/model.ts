/**
 * The validated policy model and the request/decision shapes every engine
 * shares. The semantics are written up in docs/semantics.md.
 */

/** What a request asks to do in a version 1 policy. A request without an action means `invoke`. */
export const ACTIONS = ['load', 'invoke', 'prompt'] as const;

/** The actions of a version 2 policy: version 1's and `resource` (reading or subscribing to a resource). */
export const ACTIONS_V2 = ['load', 'invoke', 'prompt', 'resource'] as const;
export type Action = (typeof ACTIONS_V2)[number];

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

/** The string request fields of a version 2 policy: version 1's and `resource`, in the order errors name them. */
export const REQUEST_FIELDS_V2 = [...REQUEST_FIELDS, 'resource'] as const;

/*
 * Limits of version 2. Each bounds what one rule or one request can make a
 * decision cost, in every engine alike; exceeding one is a coded, located
 * validation error (policies) or an invalid request (requests).
 */
/** Most patterns in one of `resources`, `users`, `groups`, a claim's list or `match`; most values in `in`. */
export const MAX_PATTERNS_PER_KEY = 256;
/** Most claims one rule lists. */
export const MAX_CLAIMS_PER_RULE = 32;
/** Most argument conditions in one rule. */
export const MAX_ARGUMENT_CONDITIONS = 64;
/** Most segments in an argument condition's pointer (a request is at most 32 levels deep). */
export const MAX_POINTER_SEGMENTS = 32;
/** Most groups in a request's principal. */
export const MAX_GROUPS = 4096;
/** Most claims in a request's principal. */
export const MAX_CLAIMS = 64;
/** Most values of one claim (an array). */
export const MAX_CLAIM_VALUES = 256;
/**
 * Most `/`-separated parts of a string that `normalize: "path"` cleans; a
 * longer string is not a path, and fails `match` (so with `not` it holds).
 */
export const MAX_PATH_PARTS = 512;

/**
 * The longest request field (of {@link REQUEST_FIELDS}), in characters (code
 * points). A longer field makes the request invalid in every engine: it bounds
 * what matching one request can cost, whatever the patterns.
 */
export const MAX_FIELD_LENGTH = 65_536;

/** The tool annotation hints a rule can constrain, as MCP's tool listing declares them. */
export const ANNOTATION_HINTS = ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const;
export type AnnotationHint = (typeof ANNOTATION_HINTS)[number];

/**
 * MCP's default of each hint, taken when a request does not declare it. One
 * exception, which every engine applies: a tool that declares `readOnlyHint:
 * true` and no `destructiveHint` is not destructive (MCP: `destructiveHint`
 * is meaningful only when `readOnlyHint` is false).
 */
export const ANNOTATION_DEFAULTS: Readonly<Record<AnnotationHint, boolean>> = {
  readOnlyHint: false,
  destructiveHint: true,
  idempotentHint: false,
  openWorldHint: true,
};

/** A JSON scalar, as `equals` and `in` compare them (numbers as IEEE-754 doubles, `-0` equal to `0`). */
export type Scalar = string | number | boolean | null;

/**
 * One condition on a request's `arguments` (version 2): a JSON pointer, one
 * test, and optionally `not` and `normalize`. Kept in the source's shape (a
 * hand-built policy is validated again as written); {@link pointerSegments}
 * reads the path.
 *
 * The values at `path` are found by following its segments from `arguments`:
 * a segment names an object member, or an array element when it is an array
 * index (`0`, or digits not starting with `0`); a segment `*` stands for every
 * element of an array and every member value of an object. The condition holds
 * when some value found satisfies the test, negated by `not`; when nothing is
 * found it fails, `not` or not. `present` holds when something is (or is not)
 * found, and takes no `not`.
 */
export interface ArgumentCondition {
  /** An RFC 6901 JSON pointer into `arguments` (`""` is `arguments` itself); a segment `*` is every element. */
  readonly path: string;
  /** A string (after `normalize`, when given) that matches one of these `*` patterns. */
  readonly match?: readonly string[];
  /** A value equal to this scalar (same JSON type; numbers as doubles). */
  readonly equals?: Scalar;
  /** A value equal to one of these scalars. */
  readonly in?: readonly Scalar[];
  /** A number at least this (inclusive). */
  readonly min?: number;
  /** A number at most this (inclusive). */
  readonly max?: number;
  /** Whether some value is found at `path` at all. */
  readonly present?: boolean;
  /** Negates the test; only with `match`, `equals`, `in`, `min`/`max`. */
  readonly not?: boolean;
  /** `"path"`: the string is cleaned as a POSIX path ({@link MAX_PATH_PARTS}) before `match`. */
  readonly normalize?: 'path';
}

/**
 * The segments of an argument condition's pointer, unescaped (`~1` is `/`,
 * `~0` is `~`); `*` is the wildcard segment. `""` has none. The pointer is
 * assumed valid (validation checks it).
 */
export function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** One validated rule. Absent constraints are `undefined`, never empty. */
export interface Rule {
  readonly action?: Action;
  readonly server?: string;
  readonly serverType?: ServerType;
  readonly serverSource?: string;
  readonly transport?: Transport;
  /** Non-empty when present. */
  readonly tools?: readonly string[];
  /** Version 2: patterns of the request's `resource` URI (non-empty; only with action `resource`). */
  readonly resources?: readonly string[];
  /** Version 2: patterns of `principal.sub`. */
  readonly users?: readonly string[];
  /** Version 2: patterns one of `principal.groups` must match. */
  readonly groups?: readonly string[];
  /** Version 2: claim name → patterns; every listed claim needs a value (or an element) that matches one. */
  readonly claims?: Readonly<Record<string, readonly string[]>>;
  /** Version 2: hint → required value, with MCP's defaults for hints the request does not declare. */
  readonly annotations?: Readonly<Partial<Record<AnnotationHint, boolean>>>;
  /** Version 2: conditions on `arguments`, all of which must hold. */
  readonly arguments?: readonly ArgumentCondition[];
  /** The decision; `deny: true` in the source becomes `allow: false`. */
  readonly allow: boolean;
  readonly reason?: string;
}

/** A validated policy: ordered rules, first match wins, else the default. */
export interface Policy {
  /** 1 (Docker's format, also when the source has none) or 2 (the superset with the keys above). */
  readonly version: 1 | 2;
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
  /** Version 2: who asks, filled in by the host from the authenticated identity. */
  principal?: Principal | null;
  /** Version 2: the arguments of the tool call (`invoke`) or prompt (`prompt`). */
  arguments?: Record<string, unknown> | null;
  /** Version 2: the URI of a resource (action `resource`). */
  resource?: string;
  /** Version 2: the tool's annotations, as the server's tool listing declares them. */
  annotations?: Partial<Record<AnnotationHint, boolean>> | null;
  [extra: string]: unknown;
}

/** Who asks (version 2). Empty strings count as absent. */
export interface Principal {
  sub?: string;
  groups?: string[];
  claims?: Record<string, string | string[]>;
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
