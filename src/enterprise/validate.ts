/**
 * Enterprise directives, stage 1: parse and validate a Stacklok Enterprise
 * Manager configuration (YAML or JSON, in any of the shapes admins write)
 * into the validated model. Like policy validation, every problem is reported
 * at once, each with a stable code, a JSON pointer into the document as
 * written, and a line and column.
 */
import { type Validation, validation } from '../core/validation.js';
import { isObject, place, Report, strip } from '../diagnostics/report.js';
import { readJson } from '../diagnostics/json.js';
import { readYaml } from '../diagnostics/yaml.js';
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
 * Parses and validates an enterprise configuration: YAML or JSON text holding
 * Helm values (`{"enterprise-manager": {"enterpriseConfig": {...}}}`, other
 * top-level keys ignored), `{"enterpriseConfig": {...}}`, or the bare
 * directive map. Pointers are into the document as written. Never throws.
 */
export function parseEnterpriseConfig(text: string): EnterpriseParseResult {
  const doc = readYaml(text);
  if (doc.value === undefined) return validation<EnterpriseConfig>(undefined, [...doc.issues]);
  const report = new Report();
  const config = checkDocument(doc.value, report);
  return validation(config, [...doc.issues, ...place(report.errors, doc)], place(report.warnings, doc));
}

/**
 * Validates an already-parsed configuration value (any of the three shapes).
 * Duplicate keys and positions cannot be seen here: prefer {@link parseEnterpriseConfig}.
 */
export function validateEnterpriseValue(value: unknown): EnterpriseParseResult {
  const report = new Report();
  const config = checkDocument(value, report);
  return validation(config, report.errors.map(strip), report.warnings.map(strip));
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
 * Whether a file is an enterprise config rather than a policy: YAML by its
 * name, or JSON with enterprise-config keys, or text that is neither JSON
 * nor starts like JSON (so YAML) in a file not named `.json`.
 */
export function isEnterpriseConfigText(file: string, text: string): boolean {
  if (/\.ya?ml$/i.test(file)) return true;
  const doc = readJson(text);
  if (doc.value !== undefined) return isEnterpriseConfigValue(doc.value);
  const start = text.trimStart().replace(/^\uFEFF/, '');
  return !/\.json$/i.test(file) && start !== '' && !start.startsWith('{') && !start.startsWith('[');
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
