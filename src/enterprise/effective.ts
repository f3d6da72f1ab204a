/**
 * The native reading of enterprise directives: the effective configuration
 * of a client, the directive checks that come before any policy rule, and the
 * request fields they use. Independent of the Rego in rego/mcp_policy/lib.rego,
 * which computes the same things inside the bundle.
 */
import { type Decision } from '../policy/model.js';
import { BUILTIN_VALUES, type EffectiveConfig, type EnterpriseConfig, type ValueSource } from './model.js';

/** Request fields that only mean something when an enterprise config is compiled in. */
export interface EnterpriseFacts {
  /** The client's local settings, by directive key. */
  readonly local: Readonly<Record<string, unknown>>;
  /** Seconds since the client last reached the Enterprise Manager; 0 when connected. */
  readonly unreachableSeconds: number;
  /** True when a `load` installs a server that is not installed yet. */
  readonly newInstall: boolean;
}

/** Checks the enterprise request fields; returns the error text, or the facts. */
export function readEnterpriseFields(r: Record<string, unknown>): { error: string } | { facts: EnterpriseFacts } {
  const local = r.local;
  if (local !== undefined && (typeof local !== 'object' || local === null || Array.isArray(local))) {
    return { error: 'field "local" must be an object' };
  }
  const localObject = (local ?? {}) as Record<string, unknown>;
  if (
    Object.prototype.hasOwnProperty.call(localObject, 'non_registry_servers') &&
    typeof localObject.non_registry_servers !== 'boolean'
  ) {
    return { error: 'field "local.non_registry_servers" must be a boolean' };
  }
  const seconds = r.unreachableSeconds;
  // Infinity is not a JSON number: the bundle engines see it as null, so it is invalid everywhere.
  if (seconds !== undefined && (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0)) {
    return { error: 'field "unreachableSeconds" must be a non-negative number' };
  }
  const install = r.newInstall;
  if (install !== undefined && typeof install !== 'boolean') return { error: 'field "newInstall" must be a boolean' };
  return { facts: { local: localObject, unreachableSeconds: seconds ?? 0, newInstall: install ?? false } };
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every(
    (k) =>
      Object.prototype.hasOwnProperty.call(b, k) &&
      deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
}

/** Orders strings by Unicode code point (UTF-8 byte order), as Rego's `sort` does; JavaScript's default is UTF-16 units. */
export function byCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let k = 0; k < Math.min(x.length, y.length); k++) {
    const d = x[k]!.codePointAt(0)! - y[k]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** One directive's effective value and its source. */
export function effectiveEntry(
  config: EnterpriseConfig,
  local: Readonly<Record<string, unknown>>,
  key: string,
): { value: unknown; source: ValueSource } {
  const directive = Object.prototype.hasOwnProperty.call(config.directives, key) ? config.directives[key] : undefined;
  const hasLocal = Object.prototype.hasOwnProperty.call(local, key);
  if (directive?.enforcement === 'enforced') return { value: directive.value, source: 'enforced' };
  if (hasLocal) return { value: local[key], source: 'local' };
  if (directive) return { value: directive.value, source: 'default' };
  return { value: BUILTIN_VALUES[key] ?? null, source: 'builtin' };
}

/** The configuration in force on a client with these local settings, and why. */
export function effectiveConfig(
  config: EnterpriseConfig,
  local: Readonly<Record<string, unknown>> = {},
): EffectiveConfig {
  const keys = [
    ...new Set([...Object.keys(config.directives), ...Object.keys(BUILTIN_VALUES), ...Object.keys(local)]),
  ].sort(byCodePoint);
  const directives = Object.fromEntries(keys.map((k) => [k, effectiveEntry(config, local, k)]));
  const rejected = keys.flatMap((key) => {
    const d = config.directives[key];
    if (d?.enforcement !== 'enforced' || !Object.prototype.hasOwnProperty.call(local, key)) return [];
    return deepEqual(local[key], d.value) ? [] : [{ key, local: local[key], value: d.value }];
  });
  const dm = config.degradedMode;
  return {
    directives,
    rejected,
    degraded_mode: {
      policy: dm?.policy ?? 'warn',
      grace_period: dm?.gracePeriod ?? null,
      grace_period_seconds: dm?.gracePeriodSeconds ?? null,
      message: dm?.message ?? null,
    },
  };
}

/** Text of the warning attached to decisions while the Enterprise Manager is unreachable. */
export const UNREACHABLE_WARNING = 'the Enterprise Manager is unreachable; using the cached configuration';
/** Reason of a new install blocked in degraded mode, when the config gives no message. */
export const BLOCKED_INSTALL_REASON = 'new server installs are blocked while the Enterprise Manager is unreachable';

/** `connected`, `grace` (within the grace period: behave as `warn`) or `degraded`. */
export function connectionState(config: EnterpriseConfig, facts: EnterpriseFacts): 'connected' | 'grace' | 'degraded' {
  if (facts.unreachableSeconds <= 0) return 'connected';
  const grace = config.degradedMode?.gracePeriodSeconds;
  return grace !== undefined && facts.unreachableSeconds <= grace ? 'grace' : 'degraded';
}

/**
 * The denial a directive imposes before any policy rule, if any: a `load` of
 * a non-registry server while non_registry_servers is false, or a new install
 * in degraded mode under `block_new`.
 */
export function directiveDenial(
  config: EnterpriseConfig,
  facts: EnterpriseFacts,
  action: string,
  serverType: string | undefined,
): Decision | undefined {
  const nrs = effectiveEntry(config, facts.local, 'non_registry_servers');
  if (nrs.value === false && action === 'load' && serverType !== 'registry') {
    return {
      allowed: false,
      reason: `non-registry servers are not allowed: directive "non_registry_servers" (${nrs.source})`,
      rule: null,
      directive: 'non_registry_servers',
    };
  }
  const dm = config.degradedMode;
  if (
    dm?.policy === 'block_new' &&
    connectionState(config, facts) === 'degraded' &&
    action === 'load' &&
    facts.newInstall
  ) {
    return { allowed: false, reason: dm.message ?? BLOCKED_INSTALL_REASON, rule: null, directive: 'degraded_mode' };
  }
  return undefined;
}

/** The warning for decisions made while the Enterprise Manager is unreachable, if any. */
export function degradedWarning(config: EnterpriseConfig, facts: EnterpriseFacts): string | undefined {
  if (connectionState(config, facts) === 'connected') return undefined;
  return config.degradedMode?.message ?? UNREACHABLE_WARNING;
}
