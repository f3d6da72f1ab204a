/**
 * Enterprise directives, stage 1: parse and validate a Stacklok Enterprise
 * Manager configuration (YAML or JSON, in any of the shapes admins write)
 * into the validated model. Like policy validation, every problem is reported
 * at once, each with a stable code, a JSON pointer into the document as
 * written, and a line and column.
 */
import { type ErrorCode } from '../core/errors.js';
import { type Validation, validation } from '../core/validation.js';
import { readDocument } from '../diagnostics/document.js';
import { type JsonDocument } from '../diagnostics/json.js';
import { type Found, isObject, place, Report, strip, suggest } from '../diagnostics/report.js';
import {
  checkDocument,
  checkUnicode,
  CONFIG_KEY,
  DEGRADED_MODE_KEY,
  HELM_KEY,
  isKnownDirective,
  VALUE_CHECKS,
} from './directives.js';
import { type EnterpriseConfig, KNOWN_DIRECTIVES } from './model.js';

export {
  BUILD_ENV_NAME,
  CONFIG_KEY,
  DEGRADED_MODE_KEY,
  HELM_KEY,
  looksLikeCredential,
  RESERVED_BUILD_ENV_NAMES,
  unsafeSequence,
} from './directives.js';
export { parseGoDuration } from './duration.js';

/** The outcome of parsing an enterprise configuration (the one {@link Validation} shape). */
export type EnterpriseParseResult = Validation<EnterpriseConfig>;

/**
 * Parses and validates an enterprise configuration: YAML or JSON text (JSON
 * when it starts like JSON, see `readDocument`) holding Helm values
 * (`{"enterprise-manager": {"enterpriseConfig": {...}}}`, other top-level
 * keys ignored), `{"enterpriseConfig": {...}}`, or the bare directive map.
 * A policy or admin-settings document is `unexpected_document`. Pointers are
 * into the document as written. Never throws.
 */
export function parseEnterpriseConfig(text: string): EnterpriseParseResult {
  return validateEnterpriseDocument(readDocument(text));
}

/** Validates an enterprise configuration already read with its positions (see {@link parseEnterpriseConfig}). */
export function validateEnterpriseDocument(doc: JsonDocument): EnterpriseParseResult {
  if (doc.value === undefined) return validation<EnterpriseConfig>(undefined, [...doc.issues]);
  const report = new Report();
  const config = checkEnterpriseShape(doc.value, report);
  return validation(config, [...doc.issues, ...place(report.errors, doc)], place(report.warnings, doc));
}

/**
 * Validates an already-parsed configuration value (any of the three shapes).
 * Duplicate keys and positions cannot be seen here: prefer {@link parseEnterpriseConfig}.
 */
export function validateEnterpriseValue(value: unknown): EnterpriseParseResult {
  const report = new Report();
  const config = checkEnterpriseShape(value, report);
  return validation(config, report.errors.map(strip), report.warnings.map(strip));
}

function checkEnterpriseShape(value: unknown, report: Report): EnterpriseConfig | undefined {
  const kind = documentKind(value, ['enterprise-config'], 'enterprise-config');
  if (kind.issue) {
    report.errors.push(kind.issue);
    return undefined;
  }
  return checkDocument(value, report);
}

/** The kinds of document mcp-policy reads. */
export const DOCUMENT_KINDS = ['policy', 'admin-settings', 'enterprise-config'] as const;
/** A policy, Docker's admin-settings.json, or a Stacklok enterprise config. */
export type DocumentKind = (typeof DOCUMENT_KINDS)[number];

/** The top-level keys that make a document a policy. */
export const POLICY_KEYS: readonly string[] = ['default', 'rules', 'version'];
/** The top-level keys that make a document Docker's admin settings. */
export const ADMIN_SETTINGS_KEYS: readonly string[] = ['mcpPolicy', 'configurationFileVersion'];
/** The top-level keys that make a document an enterprise config (so does any `{…, enforcement}` entry). */
export const ENTERPRISE_KEYS: readonly string[] = [HELM_KEY, CONFIG_KEY, DEGRADED_MODE_KEY, ...KNOWN_DIRECTIVES];

const KIND_NAMES: Readonly<Record<DocumentKind, string>> = {
  policy: 'a policy',
  'admin-settings': 'admin settings',
  'enterprise-config': 'an enterprise config',
};

const THE_KINDS =
  'a policy (with "default" and "rules"), admin settings (with "mcpPolicy") or an enterprise config ' +
  '(with "enterpriseConfig", "enterprise-manager" or directives such as "registry")';

function kindOfKey(key: string, value: unknown): DocumentKind | undefined {
  if (POLICY_KEYS.includes(key)) return 'policy';
  if (ADMIN_SETTINGS_KEYS.includes(key)) return 'admin-settings';
  // A directive this version does not know still has the `{value, enforcement}` wrapper.
  if (ENTERPRISE_KEYS.includes(key) || (isObject(value) && Object.hasOwn(value, 'enforcement'))) {
    return 'enterprise-config';
  }
  return undefined;
}

/** The kind of a document, or the issue that says why it has none here. */
export type DocumentKindResult =
  { readonly kind: DocumentKind; readonly issue?: undefined } | { readonly kind?: undefined; readonly issue: Found };

/**
 * What a document is, decided by its top-level keys alone (never by a file
 * name): `default`, `rules` or `version` make a policy; `mcpPolicy` or
 * `configurationFileVersion` admin settings; `enterprise-manager`,
 * `enterpriseConfig`, `degraded_mode`, a known directive or any
 * `{…, enforcement}` entry an enterprise config. Keys of two kinds are
 * `ambiguous_document`; a kind not in `accept` is `unexpected_document`. A
 * document with none of these keys is `otherwise` when given (so a policy
 * with misspelt keys gets the policy's "did you mean"), else
 * `unknown_document`; a value that is not an object is left to the
 * validator of `otherwise` or the first accepted kind, which says what it
 * must be. Every issue is at the root and names the kinds.
 */
export function documentKind(
  value: unknown,
  accept: readonly DocumentKind[] = DOCUMENT_KINDS,
  otherwise?: DocumentKind,
): DocumentKindResult {
  const fallback = otherwise ?? accept[0] ?? 'policy';
  if (!isObject(value)) return { kind: fallback };
  const found = new Map<DocumentKind, string[]>();
  for (const [key, entry] of Object.entries(value)) {
    const kind = kindOfKey(key, entry);
    if (kind === undefined) continue;
    const list = found.get(kind);
    if (list) list.push(key);
    else found.set(kind, [key]);
  }
  const keys = (kind: DocumentKind): string =>
    (found.get(kind) ?? [])
      .slice(0, 3)
      .map((k) => JSON.stringify(k))
      .join(', ');
  const kinds = [...found.keys()];
  if (kinds.length > 1) {
    const parts = kinds.map((kind) => `${KIND_NAMES[kind]} (${keys(kind)})`).join(' and of ');
    return issue('ambiguous_document', `the document has keys of ${parts}; it must be one of ${THE_KINDS}, not a mix`);
  }
  const [kind] = kinds;
  if (kind !== undefined) {
    if (accept.includes(kind)) return { kind };
    const wanted = accept.map((k) => KIND_NAMES[k]).join(' or ');
    return issue('unexpected_document', `the document is ${KIND_NAMES[kind]} (it has ${keys(kind)}), not ${wanted}`);
  }
  if (otherwise !== undefined) return { kind: otherwise };
  const near = Object.keys(value)
    .slice(0, 100)
    .map((key) => [key, suggest(key, [...POLICY_KEYS, ...ADMIN_SETTINGS_KEYS, ...ENTERPRISE_KEYS])] as const)
    .find(([, hint]) => hint !== undefined);
  const hint = near ? `; did you mean ${JSON.stringify(near[1])} for ${JSON.stringify(near[0])}?` : '';
  return issue('unknown_document', `the document is none of ${THE_KINDS}${hint}`);
}

function issue(code: ErrorCode, message: string): DocumentKindResult {
  return { issue: { code, path: '', message } };
}

/**
 * Validates a client's local settings, `{directiveKey: value}`: the value of
 * each known directive must be valid for it (the same rules as a directive's
 * `value`); unknown keys are allowed. Pointers are into the settings object.
 */
export function validateLocalSettings(value: unknown): Validation<Readonly<Record<string, unknown>>> {
  const report = new Report();
  if (!isObject(value)) {
    report.typeError([], 'local settings', 'an object', value);
  } else {
    for (const [key, local] of Object.entries(value)) {
      if (!isKnownDirective(key)) continue;
      VALUE_CHECKS[key](local, [key], key, report);
      checkUnicode(local, [key], report);
    }
  }
  return validation(value as Record<string, unknown>, report.errors.map(strip), report.warnings.map(strip));
}
