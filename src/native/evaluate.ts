/**
 * The native evaluator: interprets the validated policy directly in
 * TypeScript. It shares no lowered form with the Rego generator, so a bug in
 * lowering shows up as a disagreement instead of hiding in both engines.
 */
import { INVALID_REQUEST_REASON } from '../core/contracts.js';
import {
  ACTIONS,
  ACTIONS_V2,
  type Action,
  ANNOTATION_DEFAULTS,
  ANNOTATION_HINTS,
  type AnnotationHint,
  type Decision,
  MAX_CLAIM_VALUES,
  MAX_CLAIMS,
  MAX_FIELD_LENGTH,
  MAX_GROUPS,
  type Policy,
  REQUEST_FIELDS,
  REQUEST_FIELDS_V2,
  type RequestField,
  type Rule,
  TARGET_TYPES,
} from '../policy/model.js';
import { degradedWarning, directiveDenial, readEnterpriseFields } from '../enterprise/effective.js';
import { type EnterpriseConfig } from '../enterprise/model.js';
import { planOf } from './plan.js';

/** The request after validation: only non-empty string fields, action defaulted. */
export interface Facts {
  action: Action;
  server: string | undefined;
  serverType: string | undefined;
  serverSource: string | undefined;
  transport: string | undefined;
  tool: string | undefined;
}

/**
 * The facts of a request to a version 2 policy: version 1's, and who asks,
 * the resource, the tool's effective annotations and the arguments. Empty
 * strings count as absent, here as in version 1.
 */
export interface FactsV2 extends Facts {
  resource: string | undefined;
  /** Whether the request names a principal at all (`principal` present and not null). */
  principal: boolean;
  sub: string | undefined;
  /** The principal's non-empty groups, made well-formed; empty without any. */
  groups: readonly string[];
  /** The principal's claims as sent (checked: each a string or an array of strings); undefined without any. */
  claims: Readonly<Record<string, string | readonly string[]>> | undefined;
  /** Each hint's effective value: as declared, else MCP's default (with the read-only exception). */
  annotations: Readonly<Record<AnnotationHint, boolean>>;
  /** The request's `arguments` object; undefined when absent or null (nothing is found in it). */
  arguments: Readonly<Record<string, unknown>> | undefined;
}

/** Length in code points (the unit Rego counts in); only called on strings already longer in UTF-16 units. */
function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** The text a field is matched on: absent and empty are the same, and unpaired surrogates become U+FFFD. */
function text(v: string | undefined): string | undefined {
  // Go's JSON decoder turns unpaired surrogates into U+FFFD; do the same so
  // every engine sees the same text.
  return v === undefined || v === '' ? undefined : v.isWellFormed() ? v : v.toWellFormed();
}

/** {@link text} of a request copied at the boundary, whose strings are well-formed already. */
const copiedText = (v: string | undefined): string | undefined => (v === '' ? undefined : v);

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * The request fields' own values, in {@link REQUEST_FIELDS} order (inherited
 * ones read as absent, so a polluted Object.prototype cannot supply a field).
 * When nothing up the prototype chain has a request field, named reads see
 * only own properties, and they are several times faster than keyed reads or
 * hasOwnProperty, which is most of what reading a request costs.
 */
function ownFieldValues(r: Partial<Record<RequestField, unknown>>): unknown[] {
  const p = Object.getPrototypeOf(r) as object | null;
  const inherits =
    p !== null &&
    ('action' in p || 'server' in p || 'serverType' in p || 'serverSource' in p || 'transport' in p || 'tool' in p);
  if (!inherits) return [r.action, r.server, r.serverType, r.serverSource, r.transport, r.tool];
  return REQUEST_FIELDS.map((field) => (hasOwn.call(r, field) ? r[field] : undefined));
}

/** Why a request's `target` names nothing a policy answers; undefined when it is absent, null or known. */
function targetError(request: object): string | undefined {
  const target: unknown = hasOwn.call(request, 'target') ? (request as { target?: unknown }).target : undefined;
  if (target === undefined || target === null) return undefined;
  if (typeof target !== 'object' || Array.isArray(target)) return 'field "target" must be an object';
  const type: unknown = hasOwn.call(target, 'type') ? (target as { type?: unknown }).type : undefined;
  if (typeof type !== 'string') return 'field "target.type" must be a string';
  if (type.length > MAX_FIELD_LENGTH && codePoints(type) > MAX_FIELD_LENGTH) {
    return `field "target.type" is longer than ${MAX_FIELD_LENGTH} characters`;
  }
  // Quoted raw, as an unknown action is.
  return (TARGET_TYPES as readonly string[]).includes(type) ? undefined : `unknown target type "${type}"`;
}

/**
 * Checks a request's shape for a policy of the given version (1 when not
 * given); returns the error text, or the facts to match on. Version 1 ignores
 * the fields version 2 adds, like any other extra field.
 */
export function readRequest(request: unknown, version?: 1): { error: string } | { facts: Facts };
export function readRequest(request: unknown, version: 2): { error: string } | { facts: FactsV2 };
export function readRequest(request: unknown, version: 1 | 2): { error: string } | { facts: Facts | FactsV2 };
export function readRequest(request: unknown, version: 1 | 2 = 1): { error: string } | { facts: Facts | FactsV2 } {
  return version === 2 ? readRequestV2(request) : readRequestV1(request);
}

/**
 * Version 1's reading, on the hot path of every version 1 decision: the
 * facts, or the error text. `copied`: the request is the boundary's copy, so
 * checking each field for unpaired surrogates again would find none.
 */
function readV1(request: unknown, copied: boolean): Facts | string {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) {
    return 'request must be a JSON object';
  }
  const values = ownFieldValues(request);
  for (let k = 0; k < values.length; k++) {
    const v = values[k];
    // An own property set to undefined is present and not a string.
    if (v === undefined ? hasOwn.call(request, REQUEST_FIELDS[k] as RequestField) : typeof v !== 'string') {
      return `field "${REQUEST_FIELDS[k] as RequestField}" must be a string`;
    }
  }
  for (let k = 0; k < values.length; k++) {
    const v = values[k] as string | undefined;
    if (v !== undefined && v.length > MAX_FIELD_LENGTH && codePoints(v) > MAX_FIELD_LENGTH) {
      return `field "${REQUEST_FIELDS[k] as RequestField}" is longer than ${MAX_FIELD_LENGTH} characters`;
    }
  }
  const [action, server, serverType, serverSource, transport, tool] = values as (string | undefined)[];
  const textOf = copied ? copiedText : text;
  const act = textOf(action) ?? 'invoke';
  if (!(ACTIONS as readonly string[]).includes(act)) {
    // Quoted raw, not JSON-escaped: Rego builds the same text with concat.
    return `unknown action "${act}"`;
  }
  const target = targetError(request);
  if (target !== undefined) return target;
  // Every field is an own property (undefined when absent), and the object
  // keeps one shape, which the engine reads fast.
  const facts: Facts = {
    action: act as Action,
    server: textOf(server),
    serverType: textOf(serverType),
    serverSource: textOf(serverSource),
    transport: textOf(transport),
    tool: textOf(tool),
  };
  return facts;
}

/** {@link readV1} in {@link readRequest}'s shape. */
function readRequestV1(request: unknown): { error: string } | { facts: Facts } {
  const read = readV1(request, false);
  return typeof read === 'string' ? { error: read } : { facts: read };
}

/** Whether `s` is longer than the request field limit, in code points. */
const tooLong = (s: string): boolean => s.length > MAX_FIELD_LENGTH && codePoints(s) > MAX_FIELD_LENGTH;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The members of a version 2 request that its reading looks at. */
interface RequestV2 {
  action?: unknown;
  server?: unknown;
  serverType?: unknown;
  serverSource?: unknown;
  transport?: unknown;
  tool?: unknown;
  resource?: unknown;
  principal?: unknown;
  arguments?: unknown;
  annotations?: unknown;
}

/** The members of a principal that a version 2 request may hold. */
interface PrincipalV2 {
  sub?: unknown;
  groups?: unknown;
  claims?: unknown;
}

/** A null-prototype copy of `o`'s own members `names`: the slow path for objects that inherit one of them. */
function ownOnly<T extends object>(o: object, names: readonly string[]): T {
  const out = Object.create(null) as Record<string, unknown>;
  for (const name of names) if (hasOwn.call(o, name)) out[name] = (o as Record<string, unknown>)[name];
  return out as T;
}

const REQUEST_MEMBERS_V2 = [...REQUEST_FIELDS_V2, 'principal', 'arguments', 'annotations'] as const;
const PRINCIPAL_MEMBERS = ['sub', 'groups', 'claims'] as const;

/**
 * `request` itself when nothing up its prototype chain has a member reading
 * looks at, else its own members only (a polluted Object.prototype must not
 * supply one). Named reads of the result are then own reads, and several
 * times faster than keyed ones.
 */
function requestView(request: object): RequestV2 {
  const p = Object.getPrototypeOf(request) as object | null;
  if (p === null) return request;
  const inherits =
    'action' in p ||
    'server' in p ||
    'serverType' in p ||
    'serverSource' in p ||
    'transport' in p ||
    'tool' in p ||
    'resource' in p ||
    'principal' in p ||
    'arguments' in p ||
    'annotations' in p;
  return inherits ? ownOnly<RequestV2>(request, REQUEST_MEMBERS_V2) : request;
}

function principalView(principal: object): PrincipalV2 {
  const p = Object.getPrototypeOf(principal) as object | null;
  if (p === null || !('sub' in p || 'groups' in p || 'claims' in p)) return principal;
  return ownOnly<PrincipalV2>(principal, PRINCIPAL_MEMBERS);
}

/** Why a request's `principal` is malformed, in the order of the checks; undefined when it is fine. */
function principalError(principal: PrincipalV2): string | undefined {
  const { sub, groups, claims } = principal;
  // The views inherit none of the members read, so `in` finds own ones (an own member set to undefined too).
  if (sub !== undefined || 'sub' in principal) {
    if (typeof sub !== 'string') return 'field "principal.sub" must be a string';
    if (tooLong(sub)) return `field "principal.sub" is longer than ${MAX_FIELD_LENGTH} characters`;
  }
  if (groups !== undefined || 'groups' in principal) {
    if (!Array.isArray(groups)) return 'field "principal.groups" must be an array of strings';
    for (let k = 0; k < groups.length; k++) {
      if (typeof groups[k] !== 'string') return 'field "principal.groups" must be an array of strings';
    }
    if (groups.length > MAX_GROUPS) return `field "principal.groups" has more than ${MAX_GROUPS} entries`;
    for (let k = 0; k < groups.length; k++) {
      if (tooLong(groups[k] as string)) {
        return `field "principal.groups" has an entry longer than ${MAX_FIELD_LENGTH} characters`;
      }
    }
  }
  if (claims !== undefined || 'claims' in principal) {
    if (!isObject(claims)) return 'field "principal.claims" must be an object';
    const names = Object.keys(claims);
    if (names.length > MAX_CLAIMS) return `field "principal.claims" has more than ${MAX_CLAIMS} claims`;
    return claimsError(names.map((name) => claims[name]));
  }
  return undefined;
}

/** Why the values of a principal's claims are malformed: each check over every claim before the next. */
function claimsError(values: readonly unknown[]): string | undefined {
  for (const v of values) {
    if (typeof v === 'string') continue;
    if (!Array.isArray(v)) return 'field "principal.claims" must map each claim to a string or an array of strings';
    for (let k = 0; k < v.length; k++) {
      if (typeof v[k] !== 'string') {
        return 'field "principal.claims" must map each claim to a string or an array of strings';
      }
    }
  }
  for (const v of values) {
    if (Array.isArray(v) && v.length > MAX_CLAIM_VALUES) {
      return `field "principal.claims" has a claim with more than ${MAX_CLAIM_VALUES} values`;
    }
  }
  for (const v of values) {
    const long = typeof v === 'string' ? tooLong(v) : (v as string[]).some(tooLong);
    if (long) return `field "principal.claims" has a value longer than ${MAX_FIELD_LENGTH} characters`;
  }
  return undefined;
}

/** The declared hints of a request's annotations (own members only). */
interface Hints {
  readOnlyHint?: unknown;
  destructiveHint?: unknown;
  idempotentHint?: unknown;
  openWorldHint?: unknown;
}

function hintsView(annotations: object): Hints {
  const p = Object.getPrototypeOf(annotations) as object | null;
  if (p === null) return annotations;
  const inherits = 'readOnlyHint' in p || 'destructiveHint' in p || 'idempotentHint' in p || 'openWorldHint' in p;
  return inherits ? ownOnly<Hints>(annotations, ANNOTATION_HINTS) : annotations;
}

/** Why a request's (object) annotations are malformed; undefined when every declared hint is a boolean. */
function hintsError(hints: Hints): string | undefined {
  const { readOnlyHint, destructiveHint, idempotentHint, openWorldHint } = hints;
  const wrong = (v: unknown, hint: AnnotationHint): boolean =>
    typeof v !== 'boolean' && (v !== undefined || hint in hints);
  if (wrong(readOnlyHint, 'readOnlyHint')) return 'field "annotations.readOnlyHint" must be a boolean';
  if (wrong(destructiveHint, 'destructiveHint')) return 'field "annotations.destructiveHint" must be a boolean';
  if (wrong(idempotentHint, 'idempotentHint')) return 'field "annotations.idempotentHint" must be a boolean';
  if (wrong(openWorldHint, 'openWorldHint')) return 'field "annotations.openWorldHint" must be a boolean';
  return undefined;
}

/** Each hint's effective value for a request's (checked) annotations, or the defaults without any. */
function effectiveAnnotations(hints: Hints | undefined): Readonly<Record<AnnotationHint, boolean>> {
  if (hints === undefined) return ANNOTATION_DEFAULTS;
  const readOnly = hints.readOnlyHint as boolean | undefined;
  const destructive = hints.destructiveHint as boolean | undefined;
  const idempotent = hints.idempotentHint as boolean | undefined;
  const openWorld = hints.openWorldHint as boolean | undefined;
  if (readOnly === undefined && destructive === undefined && idempotent === undefined && openWorld === undefined) {
    return ANNOTATION_DEFAULTS;
  }
  return {
    readOnlyHint: readOnly ?? ANNOTATION_DEFAULTS.readOnlyHint,
    // MCP: destructiveHint means something only for a tool that is not read-only.
    destructiveHint: destructive ?? (readOnly === true ? false : ANNOTATION_DEFAULTS.destructiveHint),
    idempotentHint: idempotent ?? ANNOTATION_DEFAULTS.idempotentHint,
    openWorldHint: openWorld ?? ANNOTATION_DEFAULTS.openWorldHint,
  };
}

const NO_GROUPS: readonly string[] = Object.freeze([]);

/** The principal's non-empty groups, made well-formed. */
function groupsOf(groups: readonly string[] | undefined): readonly string[] {
  if (groups === undefined || groups.length === 0) return NO_GROUPS;
  let plain = true;
  for (let k = 0; k < groups.length && plain; k++) {
    const g = groups[k] as string;
    plain = g !== '' && g.isWellFormed();
  }
  if (plain) return groups;
  const out: string[] = [];
  for (let k = 0; k < groups.length; k++) {
    const t = text(groups[k]);
    if (t !== undefined) out.push(t);
  }
  return out;
}

/** Version 2's reading: version 1's checks with `resource` and action `resource`, then principal, arguments, annotations. */
function readRequestV2(request: unknown): { error: string } | { facts: FactsV2 } {
  if (!isObject(request)) return { error: 'request must be a JSON object' };
  const r = requestView(request);
  const { action, server, serverType, serverSource, transport, tool, resource } = r;
  const values = [action, server, serverType, serverSource, transport, tool, resource];
  for (let k = 0; k < values.length; k++) {
    const v = values[k];
    // An own property set to undefined is present and not a string.
    if (v === undefined ? hasOwn.call(r, REQUEST_FIELDS_V2[k] as string) : typeof v !== 'string') {
      return { error: `field "${REQUEST_FIELDS_V2[k] as string}" must be a string` };
    }
  }
  for (let k = 0; k < values.length; k++) {
    const v = values[k] as string | undefined;
    if (v !== undefined && tooLong(v)) {
      return { error: `field "${REQUEST_FIELDS_V2[k] as string}" is longer than ${MAX_FIELD_LENGTH} characters` };
    }
  }
  const act = text(action as string | undefined) ?? 'invoke';
  if (!(ACTIONS_V2 as readonly string[]).includes(act)) return { error: `unknown action "${act}"` };
  const target = targetError(request);
  if (target !== undefined) return { error: target };

  const { principal, arguments: args, annotations } = r;
  let who: PrincipalV2 | undefined;
  // The view inherits none of the members read, so `in` finds own ones (an own member set to undefined too).
  if (principal !== null && (principal !== undefined || 'principal' in r)) {
    if (!isObject(principal)) return { error: 'field "principal" must be an object' };
    who = principalView(principal);
    const error = principalError(who);
    if (error !== undefined) return { error };
  }
  if (args !== null && !isObject(args) && (args !== undefined || 'arguments' in r)) {
    return { error: 'field "arguments" must be an object' };
  }
  let hints: Hints | undefined;
  if (annotations !== null && (annotations !== undefined || 'annotations' in r)) {
    if (!isObject(annotations)) return { error: 'field "annotations" must be an object' };
    hints = hintsView(annotations);
    const error = hintsError(hints);
    if (error !== undefined) return { error };
  }

  const facts: FactsV2 = {
    action: act as Action,
    server: text(server as string | undefined),
    serverType: text(serverType as string | undefined),
    serverSource: text(serverSource as string | undefined),
    transport: text(transport as string | undefined),
    tool: text(tool as string | undefined),
    resource: text(resource as string | undefined),
    principal: who !== undefined,
    sub: who === undefined ? undefined : text(who.sub as string | undefined),
    groups: who === undefined ? NO_GROUPS : groupsOf(who.groups as string[] | undefined),
    claims: who === undefined ? undefined : (who.claims as FactsV2['claims']),
    annotations: effectiveAnnotations(hints),
    arguments: isObject(args) ? args : undefined,
  };
  return { facts };
}

function firstMatch(policy: Policy, facts: Facts): Decision {
  const plan = planOf(policy);
  const index = plan.firstMatch(facts);
  if (index < 0) {
    return { allowed: policy.default === 'allow', reason: plan.defaultReason, rule: null };
  }
  return { allowed: (policy.rules[index] as Rule).allow, reason: plan.reasons[index] as string, rule: index };
}

/**
 * Decides one request against a validated policy and, when given, enterprise
 * directives (checked before any rule). Never throws.
 */
export function evaluatePolicy(policy: Policy, request: unknown, enterprise?: EnterpriseConfig): Decision {
  return evaluate(policy, request, enterprise, false);
}

/**
 * {@link evaluatePolicy} of a request the boundary has copied
 * (readRequestValue): its strings are well-formed already.
 */
export function evaluateCopiedRequest(
  policy: Policy,
  request: Record<string, unknown>,
  enterprise?: EnterpriseConfig,
): Decision {
  return evaluate(policy, request, enterprise, true);
}

function evaluate(
  policy: Policy,
  request: unknown,
  enterprise: EnterpriseConfig | undefined,
  copied: boolean,
): Decision {
  let facts: Facts;
  if (policy.version === 2) {
    const read = readRequestV2(request);
    if ('error' in read) return { allowed: false, reason: INVALID_REQUEST_REASON, rule: null, error: read.error };
    facts = read.facts;
  } else {
    // Facts or the error text, without a wrapper object per decision.
    const read = readV1(request, copied);
    if (typeof read === 'string') return { allowed: false, reason: INVALID_REQUEST_REASON, rule: null, error: read };
    facts = read;
  }
  if (!enterprise) return firstMatch(policy, facts);
  const fields = readEnterpriseFields(request as Record<string, unknown>);
  if ('error' in fields) {
    return { allowed: false, reason: INVALID_REQUEST_REASON, rule: null, error: fields.error };
  }
  const decision =
    directiveDenial(enterprise, fields.facts, facts.action, facts.serverType) ?? firstMatch(policy, facts);
  const warning = degradedWarning(enterprise, fields.facts);
  return warning === undefined ? decision : { ...decision, warning };
}
