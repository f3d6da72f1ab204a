/**
 * What `check` reads: a policy, admin settings or an enterprise config, told
 * apart by shape. Apart from `validate.ts` so that policy validation does not
 * load the enterprise rules (and their Node-only certificate check).
 */
import { validation, type Validation } from '../core/validation.js';
import { readDocument } from '../diagnostics/document.js';
import { locate } from '../diagnostics/report.js';
import { documentKind } from '../enterprise/kind.js';
import { type EnterpriseConfig } from '../enterprise/model.js';
import { validateEnterpriseDocument } from '../enterprise/validate.js';
import { dockerWarnings, type PolicyDocument, validatePolicyDocument } from './validate.js';

/** Any document `check` reads: a policy or admin settings, or an enterprise config. */
export type AnyDocument =
  | { readonly kind: 'policy' | 'admin-settings'; readonly document: PolicyDocument }
  | { readonly kind: 'enterprise-config'; readonly config: EnterpriseConfig };

/**
 * Parses and validates a document of any kind, JSON or YAML, deciding what it
 * is by its shape (`documentKind`): one whose keys fit no kind, or several,
 * is an error naming the kinds. With `dockerWarnings` (`check` asks), a
 * valid policy also gets the warnings of {@link dockerWarnings}. Never throws.
 */
export function parseAnyDocument(
  text: string,
  options: { readonly dockerWarnings?: boolean } = {},
): Validation<AnyDocument> {
  const doc = readDocument(text);
  if (doc.value === undefined) return validation<AnyDocument>(undefined, doc.issues);
  const kind = documentKind(doc.value);
  if (kind.issue) return validation<AnyDocument>(undefined, [...locate(doc.issues, doc), ...locate([kind.issue], doc)]);
  if (kind.kind === 'enterprise-config') {
    const r = validateEnterpriseDocument(doc);
    return validation<AnyDocument>(r.value && { kind: kind.kind, config: r.value }, r.errors, r.warnings);
  }
  const r = validatePolicyDocument(doc);
  const docker = options.dockerWarnings && r.value ? locate(dockerWarnings(r.value), doc) : [];
  return validation<AnyDocument>(r.value && { kind: r.value.source.kind, document: r.value }, r.errors, [
    ...r.warnings,
    ...docker,
  ]);
}
