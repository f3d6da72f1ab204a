/**
 * Enterprise directives, stage 1: parse and validate a Stacklok Enterprise
 * Manager configuration (YAML or JSON, in any of the shapes admins write)
 * into the validated model. Like policy validation, every problem is reported
 * at once, each with a stable code, a JSON pointer into the document as
 * written, and a line and column.
 */
import { type Validation, validation } from '../core/validation.js';
import { readDocument } from '../diagnostics/document.js';
import { type JsonDocument } from '../diagnostics/json.js';
import { isObject, place, Report, strip } from '../diagnostics/report.js';
import { checkDocument, checkUnicode, isKnownDirective, VALUE_CHECKS } from './directives.js';
import { documentKind } from './kind.js';
import { type EnterpriseConfig } from './model.js';

export { BUILD_ENV_NAME, looksLikeCredential, RESERVED_BUILD_ENV_NAMES, unsafeSequence } from './directives.js';
// What a document is lives apart from the directive rules (which check certificates with Node's crypto), so
// policy validation can tell kinds apart in a browser; re-exported for existing importers.
export {
  ADMIN_SETTINGS_KEYS,
  CONFIG_KEY,
  DEGRADED_MODE_KEY,
  DOCUMENT_KINDS,
  type DocumentKind,
  documentKind,
  type DocumentKindResult,
  ENTERPRISE_KEYS,
  HELM_KEY,
  POLICY_KEYS,
} from './kind.js';
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
