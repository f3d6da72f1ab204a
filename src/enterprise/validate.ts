/**
 * Enterprise directives, stage 1: parse and validate a Stacklok Enterprise
 * Manager configuration (YAML or JSON, in any of the shapes admins write)
 * into the validated model. Like policy validation, every problem is reported
 * at once, each with a stable code, a JSON pointer into the document as
 * written, and a line and column.
 */
import { X509Certificate } from 'node:crypto';
import { isAlias, isMap, isScalar, isSeq, LineCounter, Parser, parseDocument } from 'yaml';
import { describeThrown, type ErrorCode, type Issue, pointerToken, toPointer } from '../errors.js';
import type { JsonDocument, Position } from '../policy/json.js';
import { describeValue, isObject, locate, suggest } from '../policy/validate.js';
import {
  type DegradedMode,
  type Directive,
  type Enforcement,
  ENFORCEMENTS,
  type EnterpriseConfig,
  KNOWN_DIRECTIVES,
  type KnownDirective,
} from './model.js';

/** The outcome of parsing: a configuration when there are no errors, plus warnings either way. */
export interface EnterpriseParseResult {
  readonly config: EnterpriseConfig | undefined;
  readonly errors: Issue[];
  readonly warnings: Issue[];
}

/** The Helm values key of the Enterprise Manager chart. */
export const HELM_KEY = 'enterprise-manager';
/** The key that holds the directive map, in Helm values and on its own. */
export const CONFIG_KEY = 'enterpriseConfig';
/** The one entry of the directive map that has no `{value, enforcement}` wrapper. */
export const DEGRADED_MODE_KEY = 'degraded_mode';

const DEGRADED_POLICIES = ['warn', 'block_new'] as const;
const WRAPPER_FIELDS = ['value', 'enforcement'] as const;
const REGISTRY_FIELDS = ['api_url', 'allow_private_ip', 'server_api_url'] as const;
const TELEMETRY_FIELDS = [
  'otel_endpoint',
  'sampling_rate',
  'tracing_enabled',
  'metrics_enabled',
  'headers',
  'insecure',
] as const;
const CA_CERTIFICATE_FIELDS = ['pem', 'url'] as const;
const DEGRADED_MODE_FIELDS = ['policy', 'grace_period', 'message'] as const;

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
const UNSAFE_SEQUENCES = ['$(', '${', '&&', '||', '`', '\\', '\n', '\r', '"', ';', '|', '>', '<'] as const;

/** An HTTP header field name (RFC 9110 token). */
const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie'];
const CREDENTIAL_PARTS = ['token', 'api-key', 'api_key', 'apikey', 'secret', 'password'];

/** More values than this after expanding YAML aliases is rejected (alias bombs). */
const MAX_NODES = 100_000;
/** Deeper nesting than this is rejected before composing (see nestingBeyond). */
const MAX_DEPTH = 100;

// ---------------------------------------------------------------------------
// Public API

/**
 * Parses and validates an enterprise configuration: YAML or JSON text holding
 * Helm values (`{"enterprise-manager": {"enterpriseConfig": {...}}}`, other
 * top-level keys ignored), `{"enterpriseConfig": {...}}`, or the bare
 * directive map. Pointers are into the document as written. Never throws.
 */
export function parseEnterpriseConfig(text: string): EnterpriseParseResult {
  let doc: JsonDocument;
  try {
    doc = readYaml(text);
  } catch (e) {
    // Defensive: nothing in reading should throw; report rather than break the promise above.
    return {
      config: undefined,
      errors: [{ code: 'invalid_yaml', path: '', message: lowerFirst(describeThrown(e)) }],
      warnings: [],
    };
  }
  if (doc.value === undefined) return { config: undefined, errors: [...doc.issues], warnings: [] };
  const report = new Report();
  const config = checkDocument(doc.value, report);
  const place = (found: readonly Found[]): Issue[] =>
    locate(
      found.map(({ atKey, ...issue }) => {
        const key = atKey ? doc.keyPositions.get(issue.path) : undefined;
        return key ? { ...issue, ...key } : issue;
      }),
      doc,
    );
  const errors = [...doc.issues, ...place(report.errors)];
  return { config: errors.length === 0 ? config : undefined, errors, warnings: place(report.warnings) };
}

/**
 * Validates an already-parsed configuration value (any of the three shapes).
 * Duplicate keys and positions cannot be seen here: prefer {@link parseEnterpriseConfig}.
 */
export function validateEnterpriseValue(value: unknown): EnterpriseParseResult {
  const report = new Report();
  const config = checkDocument(value, report);
  const errors = report.errors.map(strip);
  return { config: errors.length === 0 ? config : undefined, errors, warnings: report.warnings.map(strip) };
}

/**
 * Whether a parsed value looks like an enterprise configuration rather than a
 * policy: an object with `enterprise-manager`, `enterpriseConfig`,
 * `degraded_mode` or any known directive key.
 */
export function isEnterpriseConfigValue(value: unknown): boolean {
  if (!isObject(value)) return false;
  return [HELM_KEY, CONFIG_KEY, DEGRADED_MODE_KEY, ...KNOWN_DIRECTIVES].some((key) => Object.hasOwn(value, key));
}

/**
 * Validates a client's local settings, `{directiveKey: value}`: the value of
 * each known directive must be valid for it (the same rules as a directive's
 * `value`); unknown keys are allowed. Pointers are into the settings object.
 */
export function validateLocalSettings(value: unknown): { errors: Issue[] } {
  const report = new Report();
  if (!isObject(value)) {
    typeError(report, [], 'local settings', 'an object', value);
  } else {
    for (const [key, local] of Object.entries(value)) {
      if (!isKnownDirective(key)) continue;
      VALUE_CHECKS[key](local, [key], key, report);
      checkUnicode(local, [key], report);
    }
  }
  return { errors: report.errors.map(strip) };
}

/**
 * A Go duration (`time.ParseDuration`: `24h`, `1h30m`, `1.5h`, `300ms`, `0`;
 * units ns, us, µs, ms, s, m, h; an optional leading `+`) in seconds, possibly
 * fractional. Undefined for anything else, including negative durations, the
 * empty string and durations beyond Go's limit of about 292 years.
 */
export function parseGoDuration(text: string): number | undefined {
  if (typeof text !== 'string') return undefined;
  const s = text.startsWith('+') ? text.slice(1) : text;
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0n;
  let i = 0;
  while (i < s.length) {
    DURATION_COMPONENT.lastIndex = i;
    const m = DURATION_COMPONENT.exec(s);
    if (!m) return undefined;
    const [whole, int = '', frac = '', unit = ''] = m;
    if (int === '' && frac === '') return undefined;
    const unitNs = DURATION_UNITS[unit];
    if (unitNs === undefined) return undefined;
    total += BigInt(int || '0') * unitNs;
    if (frac !== '') total += (BigInt(frac) * unitNs) / 10n ** BigInt(frac.length);
    if (total > MAX_DURATION_NS) return undefined;
    i += whole.length;
  }
  return Number(total) / 1e9;
}

const DURATION_COMPONENT = /(\d*)(?:\.(\d*))?([^\d.]+)/y;
const DURATION_UNITS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  '\u00b5s': 1_000n, // micro sign
  '\u03bcs': 1_000n, // Greek small letter mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const MAX_DURATION_NS = (1n << 63n) - 1n;

// ---------------------------------------------------------------------------
// Reading YAML (and JSON, which is YAML) with positions

/**
 * Reads YAML text into plain JSON-like values, recording where each value
 * and each key starts, by JSON pointer. Syntax errors are `invalid_yaml`;
 * duplicate keys are `duplicate_key` at the second occurrence (the first
 * occurrence is kept, as the JSON reader does).
 */
function readYaml(text: string): JsonDocument {
  const positions = new Map<string, Position>();
  const keyPositions = new Map<string, Position>();
  const failure = (message: string, position: Position | undefined): JsonDocument => ({
    value: undefined,
    positions,
    keyPositions,
    issues: [{ code: 'invalid_yaml', path: '', message, ...position }],
  });

  const tooDeep = nestingBeyond(text, MAX_DEPTH);
  if (tooDeep) return failure(`the document is nested more than ${MAX_DEPTH} levels deep`, tooDeep);

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter });
  const positionOf = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  // Like the JSON reader, report the first syntax error only: later ones tend to be its echoes.
  const syntax = doc.errors.find((e) => e.code !== 'DUPLICATE_KEY');
  if (syntax) return failure(lowerFirst(syntax.message), positionOf(syntax.pos[0]));

  const issues: Issue[] = [];
  const duplicateOffsets = new Set<number>();
  const open = new Set<unknown>();
  let count = 0;

  const build = (node: unknown, pointer: string): unknown => {
    if (node === null || node === undefined) return null;
    const start = (node as { range?: [number, number, number] }).range?.[0];
    if (++count > MAX_NODES) {
      throw new YamlFailure(`the document has more than ${MAX_NODES} values after expanding aliases`, start ?? 0);
    }
    if (start !== undefined && !positions.has(pointer)) positions.set(pointer, positionOf(start));
    if (isAlias(node)) {
      const target = node.resolve(doc);
      if (!target) throw new YamlFailure(`unknown alias ${JSON.stringify(`*${node.source}`)}`, start ?? 0);
      if (open.has(target)) {
        throw new YamlFailure(
          `alias ${JSON.stringify(`*${node.source}`)} refers to a value that contains it`,
          start ?? 0,
        );
      }
      return build(target, pointer);
    }
    if (isScalar(node)) return node.value ?? null;
    if (isSeq(node)) {
      open.add(node);
      const items = node.items.map((item, k) => build(item, `${pointer}/${k}`));
      open.delete(node);
      return items;
    }
    if (isMap(node)) {
      open.add(node);
      const obj: Record<string, unknown> = {};
      for (const pair of node.items) {
        const keyNode = isAlias(pair.key) ? pair.key.resolve(doc) : pair.key;
        const keyStart = (pair.key as { range?: [number, number, number] } | null)?.range?.[0] ?? start ?? 0;
        if (keyNode !== null && keyNode !== undefined && !isScalar(keyNode)) {
          throw new YamlFailure('mapping keys must be plain values, not collections', keyStart);
        }
        const raw = isScalar(keyNode) ? keyNode.value : null;
        const key = raw === null || raw === undefined ? '' : String(raw);
        const child = `${pointer}/${pointerToken(key)}`;
        if (!keyPositions.has(child)) keyPositions.set(child, positionOf(keyStart));
        const value = build(pair.value, child);
        if (Object.hasOwn(obj, key)) {
          if (!duplicateOffsets.has(keyStart)) {
            duplicateOffsets.add(keyStart);
            issues.push({
              code: 'duplicate_key',
              path: child,
              message: `duplicate key ${JSON.stringify(key)}`,
              ...positionOf(keyStart),
            });
          }
        } else {
          Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
        }
      }
      open.delete(node);
      return obj;
    }
    return null;
  };

  let value: unknown;
  try {
    value = build(doc.contents, '');
  } catch (e) {
    if (!(e instanceof YamlFailure)) throw e;
    return failure(e.message, positionOf(e.offset));
  }
  // Defensive: a duplicate the YAML library saw but the walk above did not (the walk also
  // catches keys YAML tells apart but JSON cannot, such as `1` and "1").
  for (const e of doc.errors) {
    if (e.code === 'DUPLICATE_KEY' && !duplicateOffsets.has(e.pos[0])) {
      issues.push({ code: 'duplicate_key', path: '', message: 'duplicate key', ...positionOf(e.pos[0]) });
    }
  }
  return { value, positions, keyPositions, issues };
}

/**
 * Where the YAML first nests deeper than `limit` collections, if it does.
 * Checked on the concrete syntax tree (built without recursion) before the
 * document is composed: composing recurses, and past a few hundred levels the
 * YAML library runs out of stack, after which Node can abort the whole
 * process on a later parse instead of throwing.
 */
function nestingBeyond(text: string, limit: number): Position | undefined {
  const lineCounter = new LineCounter();
  for (const token of new Parser(lineCounter.addNewLine).parse(text)) {
    const stack: [unknown, number][] = [[token, 0]];
    for (let next = stack.pop(); next; next = stack.pop()) {
      const [node, depth] = next;
      if (typeof node !== 'object' || node === null) continue;
      const t = node as {
        type?: string;
        offset?: number;
        value?: unknown;
        items?: { key?: unknown; value?: unknown }[];
      };
      if (depth > limit) {
        const { line, col } = lineCounter.linePos(t.offset ?? 0);
        return { line, column: col };
      }
      if (t.type === 'document') stack.push([t.value, depth]);
      else if (Array.isArray(t.items)) {
        for (const item of t.items) stack.push([item.value, depth + 1], [item.key, depth + 1]);
      }
    }
  }
  return undefined;
}

class YamlFailure extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------
// Validation

type Path = readonly (string | number)[];

/** An issue before positions are added; `atKey` places it at the member's key rather than its value. */
interface Found extends Issue {
  readonly atKey?: boolean;
}

class Report {
  readonly errors: Found[] = [];
  readonly warnings: Found[] = [];

  error(code: ErrorCode, path: Path, message: string, atKey = false): void {
    this.errors.push({ code, path: toPointer(path), message, ...(atKey && { atKey }) });
  }

  warn(code: ErrorCode, path: Path, message: string, atKey = false): void {
    this.warnings.push({ code, path: toPointer(path), message, ...(atKey && { atKey }) });
  }
}

function strip({ atKey: _atKey, ...issue }: Found): Issue {
  return issue;
}

function checkDocument(value: unknown, r: Report): EnterpriseConfig | undefined {
  if (!isObject(value)) {
    typeError(r, [], 'the document', 'an object', value, value === null ? ' (is it empty?)' : '');
    return undefined;
  }
  if (Object.hasOwn(value, HELM_KEY)) {
    const manager = value[HELM_KEY];
    if (!isObject(manager)) {
      typeError(r, [HELM_KEY], JSON.stringify(HELM_KEY), 'an object', manager);
      return undefined;
    }
    if (!Object.hasOwn(manager, CONFIG_KEY)) {
      const near = Object.keys(manager).find((k) => suggest(k, [CONFIG_KEY]) !== undefined);
      r.error(
        'missing_field',
        [HELM_KEY, CONFIG_KEY],
        `missing required field ${JSON.stringify(CONFIG_KEY)} in ${JSON.stringify(HELM_KEY)}` +
          (near === undefined ? '' : `; found ${JSON.stringify(near)}: did you mean ${JSON.stringify(CONFIG_KEY)}?`),
      );
      return undefined;
    }
    warnMisplaced(manager, [HELM_KEY], r);
    return checkDirectiveMap(manager[CONFIG_KEY], [HELM_KEY, CONFIG_KEY], r);
  }
  if (Object.hasOwn(value, CONFIG_KEY)) {
    warnMisplaced(value, [], r);
    return checkDirectiveMap(value[CONFIG_KEY], [CONFIG_KEY], r);
  }
  return checkDirectiveMap(value, [], r);
}

/** Directives written beside `enterpriseConfig` instead of inside it are ignored: say so. */
function warnMisplaced(container: Record<string, unknown>, path: Path, r: Report): void {
  for (const key of Object.keys(container)) {
    if (key === DEGRADED_MODE_KEY || isKnownDirective(key)) {
      r.warn(
        'misplaced_directive',
        [...path, key],
        `${JSON.stringify(key)} is beside ${JSON.stringify(CONFIG_KEY)}, not inside it, and is ignored; move it under ${JSON.stringify(CONFIG_KEY)}`,
        true,
      );
    }
  }
}

function checkDirectiveMap(map: unknown, path: Path, r: Report): EnterpriseConfig | undefined {
  if (!isObject(map)) {
    const subject = path.length === 0 ? 'the document' : String(path[path.length - 1]);
    typeError(r, path, subject, 'an object', map, map === null ? '; write {} for no directives' : '');
    return undefined;
  }
  const before = r.errors.length;
  const directives: Record<string, Directive> = {};
  let degradedMode: DegradedMode | undefined;
  for (const [key, raw] of Object.entries(map)) {
    const at = [...path, key];
    if (key === DEGRADED_MODE_KEY) {
      degradedMode = checkDegradedMode(raw, at, r);
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
    const directive = checkDirective(key, raw, at, r);
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
function checkUnicode(root: unknown, rootPath: Path, r: Report): void {
  const stack: [unknown, Path][] = [[root, rootPath]];
  const seen = new Set<object>();
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [value, path] = next;
    if (typeof value === 'object' && value !== null) {
      if (seen.has(value)) continue; // shared or cyclic structure in a caller's value
      seen.add(value);
    }
    if (typeof value === 'string') {
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

/** The `{value, enforcement}` wrapper every directive has; the value is checked for known keys. */
function checkDirective(key: string, raw: unknown, path: Path, r: Report): Directive | undefined {
  const subject = `directive ${JSON.stringify(key)}`;
  if (!isObject(raw)) {
    const hint =
      raw !== null && typeof raw !== 'object'
        ? `; write {value: ${JSON.stringify(raw)}, enforcement: enforced} (or default)`
        : '';
    typeError(r, path, subject, 'an object with "value" and "enforcement"', raw, hint);
    return undefined;
  }
  const before = r.errors.length;
  const valueFields = isKnownDirective(key) ? (VALUE_FIELDS[key] ?? []) : [];
  for (const field of Object.keys(raw)) {
    if ((WRAPPER_FIELDS as readonly string[]).includes(field)) continue;
    const extra = valueFields.includes(field) ? `; ${JSON.stringify(field)} belongs inside "value"` : '';
    unknownField(r, [...path, field], field, WRAPPER_FIELDS, extra);
  }
  let enforcement: Enforcement | undefined;
  if (!Object.hasOwn(raw, 'enforcement')) {
    r.error(
      'missing_field',
      [...path, 'enforcement'],
      `missing required field "enforcement" in ${subject}; expected one of ${choices(ENFORCEMENTS)}`,
    );
  } else {
    enforcement = checkEnum(raw.enforcement, ENFORCEMENTS, [...path, 'enforcement'], 'enforcement', r);
  }
  if (!Object.hasOwn(raw, 'value')) {
    r.error('missing_field', [...path, 'value'], `missing required field "value" in ${subject}`);
  } else if (isKnownDirective(key)) {
    VALUE_CHECKS[key](raw.value, [...path, 'value'], `${key}.value`, r);
  }
  if (r.errors.length > before || enforcement === undefined) return undefined;
  return { value: raw.value, enforcement };
}

type ValueCheck = (value: unknown, path: Path, label: string, r: Report) => void;

/** Value rules per known directive; `label` names the value in messages, e.g. `registry.value`. */
const VALUE_CHECKS: Readonly<Record<KnownDirective, ValueCheck>> = {
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
  typeError(r, path, label, 'a boolean', value, hint);
}

function checkRegistry(value: unknown, path: Path, label: string, r: Report): void {
  const obj = objectWithFields(value, path, label, REGISTRY_FIELDS, r);
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
  const obj = objectWithFields(value, path, label, TELEMETRY_FIELDS, r);
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
      typeError(r, at, `${label}.sampling_rate`, 'a number from 0 to 1', rate);
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
    typeError(r, path, label, 'an object mapping header names to strings', headers);
    return;
  }
  for (const [name, value] of Object.entries(headers)) {
    const at = [...path, name];
    const subject = `header ${JSON.stringify(name)}`;
    if (!HTTP_TOKEN.test(name)) {
      r.error('invalid_name', at, `${JSON.stringify(name)} is not a valid HTTP header name`, true);
    }
    if (typeof value !== 'string') {
      typeError(r, at, subject, 'a string', value, quoteHint(value));
    } else if (/[\r\n\0]/.test(value)) {
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

function checkCaCertificate(value: unknown, path: Path, label: string, r: Report): void {
  const obj = objectWithFields(value, path, label, CA_CERTIFICATE_FIELDS, r);
  if (!obj) return;
  const hasPem = Object.hasOwn(obj, 'pem');
  const hasUrl = Object.hasOwn(obj, 'url');
  if (hasPem && hasUrl) {
    r.error('conflicting_fields', path, `${label} has both "pem" and "url"; give exactly one`);
  } else if (!hasPem && !hasUrl) {
    r.error('missing_field', path, `${label} needs exactly one of "pem" (an inline PEM certificate) or "url" (https)`);
  }
  if (hasPem) checkPem(obj.pem, [...path, 'pem'], `${label}.pem`, r);
  if (hasUrl) checkUrl(obj.url, [...path, 'url'], `${label}.url`, HTTPS_ONLY, r);
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function checkPem(pem: unknown, path: Path, label: string, r: Report): void {
  if (typeof pem !== 'string') {
    typeError(r, path, label, 'a string', pem);
    return;
  }
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(pem)) {
    r.error(
      'invalid_certificate',
      path,
      `${label} contains a private key; only the certificate belongs here (the configuration is pushed to every client)`,
    );
    return;
  }
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    r.error(
      'invalid_certificate',
      path,
      `${label} holds no PEM certificate ("-----BEGIN CERTIFICATE-----" ... "-----END CERTIFICATE-----")`,
    );
    return;
  }
  blocks.forEach((block, k) => {
    try {
      new X509Certificate(block);
    } catch (e) {
      const which = blocks.length > 1 ? `certificate ${k + 1} of ${label}` : label;
      r.error(
        'invalid_certificate',
        path,
        `${which} is not a valid X.509 certificate: ${lowerFirst(describeThrown(e))}`,
      );
    }
  });
}

function checkBuildEnv(value: unknown, path: Path, label: string, r: Report): void {
  if (!isObject(value)) {
    typeError(r, path, label, 'an object mapping variable names to strings', value);
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
      typeError(r, at, subject, 'a string', env, quoteHint(env));
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
    typeError(r, path, label, 'an object', value);
    return undefined;
  }
  const before = r.errors.length;
  for (const field of Object.keys(value)) {
    if ((DEGRADED_MODE_FIELDS as readonly string[]).includes(field)) continue;
    const extra = (WRAPPER_FIELDS as readonly string[]).includes(field)
      ? '; degraded_mode has no value/enforcement wrapper: write "policy", "grace_period" and "message" directly under it'
      : '';
    unknownField(r, [...path, field], field, DEGRADED_MODE_FIELDS, extra);
  }
  let policy: DegradedMode['policy'] | undefined;
  if (!Object.hasOwn(value, 'policy')) {
    r.error(
      'missing_field',
      [...path, 'policy'],
      `missing required field "policy" in ${label}; expected one of ${choices(DEGRADED_POLICIES)}`,
    );
  } else {
    policy = checkEnum(value.policy, DEGRADED_POLICIES, [...path, 'policy'], `${label}.policy`, r);
  }
  let gracePeriod: string | undefined;
  let gracePeriodSeconds: number | undefined;
  if (Object.hasOwn(value, 'grace_period')) {
    const at = [...path, 'grace_period'];
    const raw = value.grace_period;
    if (typeof raw !== 'string') {
      typeError(r, at, `${label}.grace_period`, 'a Go duration string such as "24h"', raw);
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
    if (typeof value.message === 'string') message = value.message;
    else typeError(r, [...path, 'message'], `${label}.message`, 'a string', value.message);
  }
  if (r.errors.length > before || policy === undefined) return undefined;
  return {
    policy,
    ...(gracePeriod !== undefined && { gracePeriod, gracePeriodSeconds }),
    ...(message !== undefined && { message }),
  };
}

// ---------------------------------------------------------------------------
// Shared checks

const HTTP_SCHEMES = ['http', 'https'] as const;
const HTTPS_ONLY = ['https'] as const;

function checkUrl(value: unknown, path: Path, label: string, schemes: readonly string[], r: Report): void {
  if (typeof value !== 'string') {
    typeError(r, path, label, 'a string', value);
    return;
  }
  const problem = urlProblem(value, schemes);
  if (problem) r.error('invalid_url', path, `${label} ${JSON.stringify(value)} ${problem}`);
}

/** Why `text` is not an absolute URL with one of `schemes` and a host; undefined when it is one. */
function urlProblem(text: string, schemes: readonly string[]): string | undefined {
  const expected = schemes.length === 1 ? `an ${schemes[0]} URL` : `an ${schemes.join(' or ')} URL`;
  if (/\s/.test(text) || hasControlCharacter(text)) {
    return `contains whitespace or control characters; expected ${expected}`;
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) return `is not an absolute URL; expected ${expected}`;
  if (!schemes.includes(scheme)) return `uses ${JSON.stringify(scheme)}; expected ${expected}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `is not a valid URL; expected ${expected}`;
  }
  if (url.hostname === '') return `has no host; expected ${expected}`;
  return undefined;
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

const HOST_PORT =
  /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*):(\d{1,5})$/;

/** An OpenTelemetry collector endpoint: an http(s) URL, or host:port (as for OTLP over gRPC). */
function checkEndpoint(value: unknown, path: Path, label: string, r: Report): void {
  if (typeof value !== 'string') {
    typeError(r, path, label, 'a string', value);
    return;
  }
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value)) {
    checkUrl(value, path, label, HTTP_SCHEMES, r);
    return;
  }
  const port = HOST_PORT.exec(value)?.[1];
  if (port === undefined || Number(port) < 1 || Number(port) > 65535) {
    r.error('invalid_url', path, `${label} ${JSON.stringify(value)} is neither an http or https URL nor host:port`);
  }
}

function checkEnum<T extends string>(
  value: unknown,
  allowed: readonly T[],
  path: Path,
  label: string,
  r: Report,
): T | undefined {
  if (typeof value !== 'string') {
    typeError(r, path, label, 'a string', value);
    return undefined;
  }
  if ((allowed as readonly string[]).includes(value)) return value as T;
  const hint = suggest(value, allowed);
  r.error(
    'invalid_value',
    path,
    `unknown ${label} ${JSON.stringify(value)}; expected one of ${choices(allowed)}${hint ? `; did you mean ${JSON.stringify(hint)}?` : ''}`,
  );
  return undefined;
}

/** Checks that `value` is an object and reports fields other than `fields`. */
function objectWithFields(
  value: unknown,
  path: Path,
  label: string,
  fields: readonly string[],
  r: Report,
): Record<string, unknown> | undefined {
  if (!isObject(value)) {
    typeError(r, path, label, 'an object', value);
    return undefined;
  }
  for (const key of Object.keys(value)) {
    if (!fields.includes(key)) unknownField(r, [...path, key], key, fields);
  }
  return value;
}

function unknownField(r: Report, path: Path, key: string, known: readonly string[], extra = ''): void {
  const hint = suggest(key, known);
  r.error(
    'unknown_field',
    path,
    `unknown field ${JSON.stringify(key)}${hint ? `; did you mean ${JSON.stringify(hint)}?` : ''}${extra}`,
    true,
  );
}

function typeError(r: Report, path: Path, subject: string, expected: string, value: unknown, hint = ''): void {
  r.error('invalid_type', path, `${subject} must be ${expected}, not ${describeValue(value)}${hint}`);
}

/** YAML reads `1` and `true` as a number and a boolean: suggest quoting where a string is wanted. */
function quoteHint(value: unknown): string {
  return typeof value === 'number' || typeof value === 'boolean'
    ? `; quote it to make it a string: ${JSON.stringify(String(value))}`
    : '';
}

function choices(values: readonly string[]): string {
  return values.map((v) => JSON.stringify(v)).join(', ');
}

function isKnownDirective(key: string): key is KnownDirective {
  return (KNOWN_DIRECTIVES as readonly string[]).includes(key);
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
