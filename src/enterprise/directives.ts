/**
 * Enterprise directive rules: the three document shapes, the
 * `{value, enforcement}` wrapper, each known directive's value, degraded
 * mode, and well-formed Unicode throughout. Findings go into a `Report`.
 */
import { SCHEMA_KEY } from '../core/contracts.js';
import { toPointer } from '../core/errors.js';
import { choices, isObject, type Path, type Report, suggest } from '../diagnostics/report.js';
import { parseGoDuration } from './duration.js';
import {
  type DegradedMode,
  type Directive,
  type Enforcement,
  ENFORCEMENTS,
  type EnterpriseConfig,
  KNOWN_DIRECTIVES,
  type KnownDirective,
} from './model.js';
import { CA_CERTIFICATE_FIELDS, checkCaCertificate, checkEndpoint, checkUrl, HTTP_SCHEMES } from './urls.js';

import { CONFIG_KEY, DEGRADED_MODE_KEY, HELM_KEY } from './kind.js';

export { CONFIG_KEY, DEGRADED_MODE_KEY, HELM_KEY } from './kind.js';

/** What `degraded_mode.policy` may be. */
export const DEGRADED_POLICIES = ['warn', 'block_new'] as const;
/** The fields of every directive but `degraded_mode`. */
export const WRAPPER_FIELDS = ['value', 'enforcement'] as const;
/** The fields of the `registry` directive's value. */
export const REGISTRY_FIELDS = ['api_url', 'allow_private_ip', 'server_api_url'] as const;
/** The fields of the `telemetry` directive's value. */
export const TELEMETRY_FIELDS = [
  'otel_endpoint',
  'sampling_rate',
  'tracing_enabled',
  'metrics_enabled',
  'headers',
  'insecure',
] as const;
/** The fields of `degraded_mode`. */
export const DEGRADED_MODE_FIELDS = ['policy', 'grace_period', 'message'] as const;

/** Fields of each known directive's value object: a field written beside `value` probably belongs inside it. */
const VALUE_FIELDS: Partial<Record<KnownDirective, readonly string[]>> = {
  registry: REGISTRY_FIELDS,
  telemetry: TELEMETRY_FIELDS,
  ca_certificate: CA_CERTIFICATE_FIELDS,
};

/** ToolHive's build-env rules: the name pattern, reserved names and rejected sequences. */
export const BUILD_ENV_NAME = /^[A-Z][A-Z0-9_]*$/;
export const RESERVED_BUILD_ENV_NAMES: readonly string[] = [
  'PATH',
  'HOME',
  'USER',
  'SHELL',
  'PWD',
  'HOSTNAME',
  'TERM',
  'LANG',
  'LC_ALL',
  'LD_PRELOAD',
  'LD_LIBRARY_PATH',
];
/** Longer sequences first, so `&&` and `||` are named as such. */
export const UNSAFE_SEQUENCES = ['$(', '${', '&&', '||', '`', '\\', '\n', '\r', '"', ';', '|', '>', '<'] as const;

/** What a telemetry header value must not contain: a line break or NUL would split or end the header. */
export const UNSAFE_HEADER_VALUE = /[\r\n\0]/;
/** An HTTP header field name (RFC 9110 token). */
export const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie'];
const CREDENTIAL_PARTS = ['token', 'api-key', 'api_key', 'apikey', 'secret', 'password'];

/** Validates a whole document in any of its three shapes. */
export function checkDocument(value: unknown, r: Report): EnterpriseConfig | undefined {
  if (value === null) {
    r.error('empty_document', [], 'the document is empty (null); expected an object of directives');
    return undefined;
  }
  if (!isObject(value)) {
    r.typeError([], 'the document', 'an object', value);
    return undefined;
  }
  if (Object.hasOwn(value, HELM_KEY)) {
    const manager = value[HELM_KEY];
    if (!isObject(manager)) {
      const hint =
        manager === null && Object.hasOwn(value, CONFIG_KEY)
          ? `; the ${JSON.stringify(CONFIG_KEY)} after it is not indented under it`
          : '';
      r.typeError([HELM_KEY], JSON.stringify(HELM_KEY), 'an object', manager, hint);
      return undefined;
    }
    if (!Object.hasOwn(manager, CONFIG_KEY)) {
      r.error(
        'missing_field',
        [HELM_KEY, CONFIG_KEY],
        `missing required field ${JSON.stringify(CONFIG_KEY)} in ${JSON.stringify(HELM_KEY)}${whereDirectivesAre(manager)}`,
      );
      return undefined;
    }
    const beside = warnMisplaced(manager, [HELM_KEY], r);
    return checkDirectiveMap(manager[CONFIG_KEY], [HELM_KEY, CONFIG_KEY], r, beside);
  }
  if (Object.hasOwn(value, CONFIG_KEY)) {
    const beside = warnMisplaced(value, [], r);
    return checkDirectiveMap(value[CONFIG_KEY], [CONFIG_KEY], r, beside);
  }
  if (!Object.hasOwn(value, SCHEMA_KEY)) return checkDirectiveMap(value, [], r);
  // An editor's schema reference beside the directives is not a directive: it is never pushed to clients.
  const { [SCHEMA_KEY]: schema, ...directives } = value;
  if (typeof schema === 'string') return checkDirectiveMap(directives, [], r);
  r.typeError([SCHEMA_KEY], JSON.stringify(SCHEMA_KEY), 'a string', schema);
  checkDirectiveMap(directives, [], r);
  return undefined;
}

/**
 * Where the directives of Helm values without `enterpriseConfig` went: under
 * a key that is a near miss of it, under another key, or directly in
 * `enterprise-manager`; `''` when none is found.
 */
function whereDirectivesAre(manager: Record<string, unknown>): string {
  const near = Object.keys(manager).find((k) => suggest(k, [CONFIG_KEY]) !== undefined);
  if (near !== undefined) return `; found ${JSON.stringify(near)}: did you mean ${JSON.stringify(CONFIG_KEY)}?`;
  const isDirective = (k: string): boolean => k === DEGRADED_MODE_KEY || isKnownDirective(k);
  const holder = Object.entries(manager).find(([, v]) => isObject(v) && Object.keys(v).some(isDirective))?.[0];
  if (holder !== undefined)
    return `; the directives are under ${JSON.stringify(holder)}: rename it ${JSON.stringify(CONFIG_KEY)}`;
  const direct = Object.keys(manager).filter(isDirective);
  if (direct.length === 0) return '';
  return (
    `; the directives (${choices(direct.slice(0, 3))}) are directly under ${JSON.stringify(HELM_KEY)}: ` +
    `indent them under "${CONFIG_KEY}:"`
  );
}

/** Directives written beside `enterpriseConfig` instead of inside it are ignored: say so, and return them. */
function warnMisplaced(container: Record<string, unknown>, path: Path, r: Report): string[] {
  const beside: string[] = [];
  for (const key of Object.keys(container)) {
    if (key === DEGRADED_MODE_KEY || isKnownDirective(key)) {
      beside.push(key);
      r.warn(
        'misplaced_directive',
        [...path, key],
        `${JSON.stringify(key)} is beside ${JSON.stringify(CONFIG_KEY)}, not inside it, and is ignored; move it under ${JSON.stringify(CONFIG_KEY)}`,
        true,
      );
    }
  }
  return beside;
}

/**
 * Checks the directive map. `beside` are the directives found next to it
 * (mis-indented), so that an empty map is not answered with "write {}",
 * which would drop them.
 */
function checkDirectiveMap(
  map: unknown,
  path: Path,
  r: Report,
  beside: readonly string[] = [],
): EnterpriseConfig | undefined {
  if (!isObject(map)) {
    const subject = path.length === 0 ? 'the document' : String(path[path.length - 1]);
    const hint =
      map !== null
        ? ''
        : beside.length > 0
          ? `; the directives after it (${choices(beside.slice(0, 3))}) are not indented under it`
          : '; write {} for no directives';
    r.typeError(path, subject, 'an object', map, hint);
    return undefined;
  }
  const before = r.errors.length;
  const directives: Record<string, Directive> = {};
  let degradedMode: DegradedMode | undefined;
  const strays = strayFields(map);
  for (const [key, raw] of Object.entries(map)) {
    const at = [...path, key];
    if (key === DEGRADED_MODE_KEY) {
      degradedMode = checkDegradedMode(raw, at, r);
      continue;
    }
    const owner = strays.owners.get(key);
    if (owner !== undefined) {
      r.error(
        'misplaced_field',
        at,
        `${JSON.stringify(key)} is a field of a directive, not a directive: ` +
          (owner === '' ? 'indent it under the directive it belongs to' : `indent it under ${JSON.stringify(owner)}`),
        true,
      );
      continue;
    }
    if (!isKnownDirective(key)) {
      const hint = suggest(key, [...KNOWN_DIRECTIVES, DEGRADED_MODE_KEY]);
      r.warn(
        'unknown_directive',
        at,
        `unknown directive ${JSON.stringify(key)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}; it is passed through to clients unchecked`,
        true,
      );
    }
    const directive = checkDirective(key, raw, at, r, strays.below.get(key) ?? []);
    if (directive) {
      Object.defineProperty(directives, key, {
        value: directive,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  checkUnicode(map, path, r);
  if (r.errors.length > before) return undefined;
  return { directives, ...(degradedMode && { degradedMode }) };
}

/**
 * Rejects strings and keys with unpaired UTF-16 surrogates anywhere in the
 * directive map, as policy validation does: Go would silently replace them,
 * so engines would disagree on the value. Iterative, so any depth is safe.
 * An object reached twice (only possible in a value passed in by a caller) is checked once.
 */
export function checkUnicode(root: unknown, rootPath: Path, r: Report): void {
  const stack: [unknown, Path][] = [[root, rootPath]];
  const seen = new Set<object>();
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [value, path] = next;
    if (typeof value === 'object' && value !== null) {
      if (seen.has(value)) continue; // shared or cyclic structure in a caller's value
      seen.add(value);
    }
    if (typeof value === 'number' && !Number.isFinite(value)) {
      // A check of the value itself (such as sampling_rate's range) has said more already.
      if (r.errors.some((e) => e.path === toPointer(path))) continue;
      r.error(
        'invalid_number',
        path,
        `the value ${String(value)} is not a finite number, which JSON and Rego cannot represent`,
      );
    } else if (typeof value === 'string') {
      if (!value.isWellFormed()) {
        r.error('invalid_unicode', path, `${JSON.stringify(value)} contains an unpaired UTF-16 surrogate`);
      }
    } else if (Array.isArray(value)) {
      for (let k = value.length - 1; k >= 0; k--) stack.push([value[k], [...path, k]]);
    } else if (isObject(value)) {
      for (const key of Object.keys(value).reverse()) {
        if (!key.isWellFormed()) {
          r.error(
            'invalid_unicode',
            [...path, key],
            `key ${JSON.stringify(key)} contains an unpaired UTF-16 surrogate`,
            true,
          );
        }
        stack.push([value[key], [...path, key]]);
      }
    }
  }
}

/**
 * `value` and `enforcement` written among the directives rather than inside
 * one (indented one level too little): each belongs to the directive written
 * before it. Such a key is taken for a directive only when it has the wrapper
 * itself.
 */
function strayFields(map: Record<string, unknown>): {
  owners: Map<string, string>;
  below: Map<string, string[]>;
} {
  const owners = new Map<string, string>();
  const below = new Map<string, string[]>();
  let owner = '';
  for (const [key, raw] of Object.entries(map)) {
    const wrapped = isObject(raw) && Object.hasOwn(raw, 'enforcement');
    if (!(WRAPPER_FIELDS as readonly string[]).includes(key) || wrapped) {
      owner = key === DEGRADED_MODE_KEY ? '' : key;
      continue;
    }
    owners.set(key, owner);
    if (owner !== '') below.set(owner, [...(below.get(owner) ?? []), key]);
  }
  return { owners, below };
}

/**
 * The `{value, enforcement}` wrapper every directive has; the value is
 * checked for known keys. `below` are its fields written after it one level
 * too far left (see {@link strayFields}).
 */
function checkDirective(
  key: string,
  raw: unknown,
  path: Path,
  r: Report,
  below: readonly string[] = [],
): Directive | undefined {
  const subject = `directive ${JSON.stringify(key)}`;
  const strays = (fields: readonly string[]): string =>
    `; the ${fields.map((f) => JSON.stringify(f)).join(' and ')} below it ${fields.length > 1 ? 'are' : 'is'} not indented under it`;
  if (!isObject(raw)) {
    const hint =
      raw === null && below.length > 0
        ? strays(below)
        : raw !== null && typeof raw !== 'object'
          ? `; write {value: ${JSON.stringify(raw)}, enforcement: enforced} (or default)`
          : '';
    r.typeError(path, subject, 'an object with "value" and "enforcement"', raw, hint);
    return undefined;
  }
  // `enforcement` indented into an object value: it belongs beside `value`, and the value is what remains.
  let value = raw.value;
  let nested = false;
  if (!Object.hasOwn(raw, 'enforcement') && isObject(value) && Object.hasOwn(value, 'enforcement')) {
    nested = true;
    r.error(
      'misplaced_field',
      [...path, 'value', 'enforcement'],
      `"enforcement" is a field of ${subject}, not of its value: indent it one level less, beside "value"`,
      true,
    );
    const { enforcement: _enforcement, ...rest } = value;
    value = Object.keys(rest).length === 0 ? null : rest;
  }
  const before = r.errors.length;
  const valueFields = isKnownDirective(key) ? (VALUE_FIELDS[key] ?? []) : [];
  for (const field of Object.keys(raw)) {
    if ((WRAPPER_FIELDS as readonly string[]).includes(field)) continue;
    const extra = valueFields.includes(field) ? `; ${JSON.stringify(field)} belongs inside "value"` : '';
    r.unknownField([...path, field], field, WRAPPER_FIELDS, extra);
  }
  let enforcement: Enforcement | undefined;
  if (!Object.hasOwn(raw, 'enforcement')) {
    const hint = below.includes('enforcement') ? strays(['enforcement']) : `; expected one of ${choices(ENFORCEMENTS)}`;
    if (!nested)
      r.error('missing_field', [...path, 'enforcement'], `missing required field "enforcement" in ${subject}${hint}`);
  } else {
    enforcement = r.oneOf(raw.enforcement, ENFORCEMENTS, [...path, 'enforcement'], 'enforcement');
  }
  if (!Object.hasOwn(raw, 'value')) {
    const hint = below.includes('value') ? strays(['value']) : '';
    r.error('missing_field', [...path, 'value'], `missing required field "value" in ${subject}${hint}`);
  } else if (isKnownDirective(key)) {
    VALUE_CHECKS[key](value, [...path, 'value'], `${key}.value`, r);
  }
  if (r.errors.length > before || enforcement === undefined) return undefined;
  return { value: raw.value, enforcement };
}

type ValueCheck = (value: unknown, path: Path, label: string, r: Report) => void;

/** Value rules per known directive; `label` names the value in messages, e.g. `registry.value`. */
export const VALUE_CHECKS: Readonly<Record<KnownDirective, ValueCheck>> = {
  registry: checkRegistry,
  non_registry_servers: checkBoolean,
  telemetry: checkTelemetry,
  ca_certificate: checkCaCertificate,
  build_env: checkBuildEnv,
  playground: checkBoolean,
  help_menu: checkBoolean,
  assistant: checkBoolean,
};

function checkBoolean(value: unknown, path: Path, label: string, r: Report): void {
  if (typeof value === 'boolean') return;
  const hint =
    typeof value === 'string' && /^(?:true|false|yes|no|on|off|y|n)$/i.test(value)
      ? '; write true or false, without quotes'
      : '';
  r.typeError(path, label, 'a boolean', value, hint);
}

function checkRegistry(value: unknown, path: Path, label: string, r: Report): void {
  const obj = r.objectWithFields(value, path, label, REGISTRY_FIELDS);
  if (!obj) return;
  if (!Object.hasOwn(obj, 'api_url')) {
    r.error('missing_field', [...path, 'api_url'], `missing required field "api_url" in ${label}`);
  } else {
    checkUrl(obj.api_url, [...path, 'api_url'], `${label}.api_url`, HTTP_SCHEMES, r);
  }
  if (Object.hasOwn(obj, 'allow_private_ip')) {
    checkBoolean(obj.allow_private_ip, [...path, 'allow_private_ip'], `${label}.allow_private_ip`, r);
  }
  if (Object.hasOwn(obj, 'server_api_url')) {
    checkUrl(obj.server_api_url, [...path, 'server_api_url'], `${label}.server_api_url`, HTTP_SCHEMES, r);
  }
}

function checkTelemetry(value: unknown, path: Path, label: string, r: Report): void {
  const obj = r.objectWithFields(value, path, label, TELEMETRY_FIELDS);
  if (!obj) return;
  if (!Object.hasOwn(obj, 'otel_endpoint')) {
    r.error('missing_field', [...path, 'otel_endpoint'], `missing required field "otel_endpoint" in ${label}`);
  } else {
    checkEndpoint(obj.otel_endpoint, [...path, 'otel_endpoint'], `${label}.otel_endpoint`, r);
  }
  if (Object.hasOwn(obj, 'sampling_rate')) {
    const rate = obj.sampling_rate;
    const at = [...path, 'sampling_rate'];
    if (typeof rate !== 'number') {
      r.typeError(at, `${label}.sampling_rate`, 'a number from 0 to 1', rate);
    } else if (!(rate >= 0 && rate <= 1)) {
      r.error(
        'out_of_range',
        at,
        `${label}.sampling_rate ${String(rate)} is out of range; expected a number from 0 to 1`,
      );
    }
  }
  for (const flag of ['tracing_enabled', 'metrics_enabled', 'insecure'] as const) {
    if (Object.hasOwn(obj, flag)) checkBoolean(obj[flag], [...path, flag], `${label}.${flag}`, r);
  }
  if (Object.hasOwn(obj, 'headers')) checkHeaders(obj.headers, [...path, 'headers'], `${label}.headers`, r);
}

function checkHeaders(headers: unknown, path: Path, label: string, r: Report): void {
  if (!isObject(headers)) {
    r.typeError(path, label, 'an object mapping header names to strings', headers);
    return;
  }
  for (const [name, value] of Object.entries(headers)) {
    const at = [...path, name];
    const subject = `header ${JSON.stringify(name)}`;
    if (!HTTP_TOKEN.test(name)) {
      r.error('invalid_name', at, `${JSON.stringify(name)} is not a valid HTTP header name`, true);
    }
    if (typeof value !== 'string') {
      r.typeError(at, subject, 'a string', value, quoteHint(value));
    } else if (UNSAFE_HEADER_VALUE.test(value)) {
      r.error('unsafe_value', at, `${subject} contains a line break or NUL character`);
    }
    if (looksLikeCredential(name)) {
      r.warn(
        'credential_header',
        at,
        `${subject} looks like a credential: telemetry headers are pushed to every client and must not carry secrets`,
        true,
      );
    }
  }
}

/** Whether a header name suggests it carries a credential (case-insensitive). */
export function looksLikeCredential(name: string): boolean {
  const lower = name.toLowerCase();
  return CREDENTIAL_HEADERS.includes(lower) || CREDENTIAL_PARTS.some((part) => lower.includes(part));
}

function checkBuildEnv(value: unknown, path: Path, label: string, r: Report): void {
  if (!isObject(value)) {
    r.typeError(path, label, 'an object mapping variable names to strings', value);
    return;
  }
  for (const [name, env] of Object.entries(value)) {
    const at = [...path, name];
    const subject = `build_env variable ${JSON.stringify(name)}`;
    if (!BUILD_ENV_NAME.test(name)) {
      const upper = name.toUpperCase();
      const hint =
        BUILD_ENV_NAME.test(upper) && !RESERVED_BUILD_ENV_NAMES.includes(upper)
          ? `; did you mean ${JSON.stringify(upper)}?`
          : '';
      r.error(
        'invalid_name',
        at,
        `${subject} is not a valid name: names are upper-case letters, digits and underscores, starting with a letter (^[A-Z][A-Z0-9_]*$)${hint}`,
        true,
      );
    } else if (RESERVED_BUILD_ENV_NAMES.includes(name)) {
      r.error('reserved_name', at, `${subject} is reserved and cannot be set`, true);
    }
    if (typeof env !== 'string') {
      r.typeError(at, subject, 'a string', env, quoteHint(env));
    } else {
      const sequence = unsafeSequence(env);
      if (sequence !== undefined) {
        r.error(
          'unsafe_value',
          at,
          `${subject} contains ${describeSequence(sequence)}, which ToolHive rejects in build environment values`,
        );
      }
    }
  }
}

/** The first sequence ToolHive rejects in a build-env value, by position. */
export function unsafeSequence(value: string): string | undefined {
  for (let i = 0; i < value.length; i++) {
    const found = UNSAFE_SEQUENCES.find((s) => value.startsWith(s, i));
    if (found !== undefined) return found;
  }
  return undefined;
}

const SEQUENCE_NAMES: Readonly<Record<string, string>> = {
  '\n': 'a newline',
  '\r': 'a carriage return',
  '\\': 'a backslash',
  '"': 'a double quote',
  '`': 'a backtick',
};

function describeSequence(sequence: string): string {
  return SEQUENCE_NAMES[sequence] ?? JSON.stringify(sequence);
}

function checkDegradedMode(value: unknown, path: Path, r: Report): DegradedMode | undefined {
  const label = DEGRADED_MODE_KEY;
  if (!isObject(value)) {
    r.typeError(path, label, 'an object', value);
    return undefined;
  }
  const before = r.errors.length;
  for (const field of Object.keys(value)) {
    if ((DEGRADED_MODE_FIELDS as readonly string[]).includes(field)) continue;
    const extra = (WRAPPER_FIELDS as readonly string[]).includes(field)
      ? '; degraded_mode has no value/enforcement wrapper: write "policy", "grace_period" and "message" directly under it'
      : '';
    r.unknownField([...path, field], field, DEGRADED_MODE_FIELDS, extra);
  }
  let policy: DegradedMode['policy'] | undefined;
  if (!Object.hasOwn(value, 'policy')) {
    r.error(
      'missing_field',
      [...path, 'policy'],
      `missing required field "policy" in ${label}; expected one of ${choices(DEGRADED_POLICIES)}`,
    );
  } else {
    policy = r.oneOf(value.policy, DEGRADED_POLICIES, [...path, 'policy'], `${label}.policy`);
  }
  let gracePeriod: string | undefined;
  let gracePeriodSeconds: number | undefined;
  if (Object.hasOwn(value, 'grace_period')) {
    const at = [...path, 'grace_period'];
    const raw = value.grace_period;
    if (typeof raw !== 'string') {
      r.typeError(at, `${label}.grace_period`, 'a Go duration string such as "24h"', raw);
    } else {
      gracePeriodSeconds = parseGoDuration(raw);
      if (gracePeriodSeconds === undefined) {
        const why = raw.trim().startsWith('-')
          ? 'is negative'
          : 'is not a Go duration (such as "24h", "30m" or "1h30m"; units ns, us, ms, s, m, h)';
        r.error('invalid_duration', at, `${label}.grace_period ${JSON.stringify(raw)} ${why}`);
      } else {
        gracePeriod = raw;
      }
    }
  }
  let message: string | undefined;
  if (Object.hasOwn(value, 'message')) {
    if (value.message === '') {
      r.error(
        'invalid_value',
        [...path, 'message'],
        `${label}.message is empty; leave it out to use the built-in text`,
      );
    } else if (typeof value.message === 'string') message = value.message;
    else r.typeError([...path, 'message'], `${label}.message`, 'a string', value.message);
  }
  if (r.errors.length > before || policy === undefined) return undefined;
  return {
    policy,
    ...(gracePeriod !== undefined && { gracePeriod, gracePeriodSeconds }),
    ...(message !== undefined && { message }),
  };
}

/** YAML reads `1` and `true` as a number and a boolean: suggest quoting where a string is wanted. */
function quoteHint(value: unknown): string {
  return typeof value === 'number' || typeof value === 'boolean'
    ? `; quote it to make it a string: ${JSON.stringify(String(value))}`
    : '';
}

/** Whether `key` is a directive this project checks the value of. */
export function isKnownDirective(key: string): key is KnownDirective {
  return (KNOWN_DIRECTIVES as readonly string[]).includes(key);
}
