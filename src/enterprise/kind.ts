/**
 * What a document is (a policy, Docker's admin settings or a Stacklok
 * enterprise config), decided by its top-level keys. Kept apart from the
 * directive rules so that policy validation, which only needs to tell kinds
 * apart, imports nothing that needs Node.
 */
import { type ErrorCode } from '../core/errors.js';
import { type Found, isObject, suggest } from '../diagnostics/report.js';
import { KNOWN_DIRECTIVES } from './model.js';

/** The Helm values key of the Enterprise Manager chart. */
export const HELM_KEY = 'enterprise-manager';
/** The key that holds the directive map, in Helm values and on its own. */
export const CONFIG_KEY = 'enterpriseConfig';
/** The one entry of the directive map that has no `{value, enforcement}` wrapper. */
export const DEGRADED_MODE_KEY = 'degraded_mode';

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
