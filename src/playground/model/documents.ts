/**
 * The playground's editor model: a policy or admin-settings text checked as
 * `mcp-policy check` checks it, each issue placed at a UTF-16 range of the
 * text the user sees. Issues inside the escaped `mcpPolicy.value` string of
 * an admin-settings document are placed inside that string, escapes counted.
 * No Node built-ins: the browser app imports this.
 */
import { type Issue } from '../../core/errors.js';
import { documentSyntax, readDocument } from '../../diagnostics/document.js';
import { type JsonDocument, readJson } from '../../diagnostics/json.js';
import { isObject, locate } from '../../diagnostics/report.js';
import { type Policy } from '../../policy/model.js';
import { dockerWarnings, validatePolicyDocument } from '../../policy/validate.js';
import { escapedStringMap, lineStarts, literalBlockMap } from './offsets.js';

/** What the editor holds: a bare policy or Docker's admin-settings.json. */
export type DocumentKind = 'policy' | 'admin-settings';

/** One `check` issue placed in the editor text. */
export interface PlaygroundDiagnostic {
  /** UTF-16 offsets into the editor text. */
  from: number;
  to: number;
  /** 1-based line and column of `from`. */
  line: number;
  column: number;
  severity: 'error' | 'warning';
  /** The stable error code and JSON pointer (into the inner policy when `within` is set). */
  code: string;
  pointer: string;
  /** The same message `mcp-policy check` prints, "did you mean" included. */
  message: string;
  /** `/mcpPolicy/value` when the pointer is into the policy held in that string, as `check` reports it. */
  within?: string;
}

/** A checked editor text. */
export interface CheckedDocument {
  kind: DocumentKind;
  format: 'json' | 'yaml';
  /** The validated policy, present when there are no errors. */
  policy?: Policy;
  /** The (inner) policy as a JSON value, whenever it parsed, valid or not. */
  policyJson?: unknown;
  /** Errors and warnings in document order. */
  diagnostics: PlaygroundDiagnostic[];
  /** Admin settings only: `mcpPolicy.locked`. */
  locked?: boolean;
}

const WITHIN_VALUE = '/mcpPolicy/value';

/**
 * Checks editor text as `mcp-policy check` does for a policy or admin
 * settings (the Docker version 1 warning included). `hint.name` only chooses
 * the format of a blank text (a `.json` name makes it JSON); what a document
 * is never depends on its name. Never throws.
 */
export function checkDocument(text: string, hint: { name?: string } = {}): CheckedDocument {
  const doc = readDocument(text);
  const format = text.trim() === '' && /\.json$/i.test(hint.name ?? '') ? 'json' : documentSyntax(text);
  const result = validatePolicyDocument(doc);
  const docker = result.value ? locate(dockerWarnings(result.value), doc) : [];
  const settings = adminSettingsOf(doc.value);
  const kind: DocumentKind = result.value?.source.kind ?? (settings ? 'admin-settings' : 'policy');
  const inner = kind === 'admin-settings' && typeof settings?.value === 'string' ? settings.value : undefined;
  const innerDoc = inner !== undefined ? readJson(inner) : undefined;
  const place = placer(text, doc, inner, innerDoc);
  const diagnostics = [
    ...result.errors.map((i) => place(i, 'error')),
    ...[...result.warnings, ...docker].map((i) => place(i, 'warning')),
  ].sort((a, b) => a.from - b.from || a.to - b.to);
  const policyJson = kind === 'admin-settings' ? innerDoc?.value : doc.value;
  return {
    kind,
    format,
    ...(result.value && { policy: result.value.policy }),
    ...(policyJson !== undefined && { policyJson }),
    diagnostics,
    ...(kind === 'admin-settings' && { locked: settings?.locked === true }),
  };
}

function adminSettingsOf(value: unknown): { value?: unknown; locked?: unknown } | undefined {
  if (!isObject(value) || !Object.hasOwn(value, 'mcpPolicy')) return undefined;
  return isObject(value.mcpPolicy) ? value.mcpPolicy : {};
}

/** Turns issues into diagnostics for one text: outer issues by their line and column, inner ones through the escapes. */
function placer(
  text: string,
  doc: JsonDocument,
  inner: string | undefined,
  innerDoc: JsonDocument | undefined,
): (issue: Issue, severity: 'error' | 'warning') => PlaygroundDiagnostic {
  const starts = lineStarts(text);
  const offsetOf = (line: number | undefined, column: number | undefined): number =>
    line === undefined ? 0 : Math.min(text.length, (starts[line - 1] ?? 0) + (column ?? 1) - 1);
  const valuePos = doc.positions.get(WITHIN_VALUE);
  const valueStart = valuePos ? offsetOf(valuePos.line, valuePos.column) : undefined;
  // Inner text index → outer offset; undefined when the value is written in a form not mapped (a folded scalar).
  const map =
    inner !== undefined && valueStart !== undefined
      ? (escapedStringMap(text, valueStart, inner.length) ?? literalBlockMap(text, valueStart, inner))
      : undefined;
  const innerStarts = inner !== undefined ? lineStarts(inner) : [];
  return (issue, severity) => {
    let from: number;
    let to: number;
    if (issue.within === WITHIN_VALUE && inner !== undefined && innerDoc !== undefined) {
      const at = innerPosition(issue, innerDoc);
      const innerFrom =
        at.line === undefined ? 0 : Math.min(inner.length, (innerStarts[at.line - 1] ?? 0) + (at.column ?? 1) - 1);
      const innerTo = tokenEnd(inner, innerFrom);
      if (map) {
        from = map[innerFrom] ?? valueStart ?? 0;
        to = Math.max(from + (innerTo > innerFrom ? 1 : 0), map[innerTo] ?? from);
      } else {
        from = valueStart ?? 0;
        to = tokenEnd(text, from);
      }
    } else {
      from = offsetOf(issue.line, issue.column);
      to = tokenEnd(text, from);
    }
    const line = lineOf(starts, from);
    return {
      from,
      to,
      line: line + 1,
      column: from - (starts[line] ?? 0) + 1,
      severity,
      code: issue.code,
      pointer: issue.path,
      message: issue.message,
      ...(issue.within !== undefined && { within: issue.within }),
    };
  };
}

/**
 * Where an issue of the embedded policy is in the inner text: its own
 * syntax errors keep the reader's position; validation issues are placed
 * as for a bare policy (unknown keys at the key, others at the value).
 */
function innerPosition(issue: Issue, innerDoc: JsonDocument): { line?: number; column?: number } {
  const { within: _within, ...bare } = issue;
  const read = innerDoc.issues.find((i) => i.code === bare.code && i.path === bare.path && i.message === bare.message);
  if (read) return read;
  return locate([bare], innerDoc)[0] ?? {};
}

function lineOf(starts: readonly number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((starts[mid] ?? 0) <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * The end of the token at `from`, so an underline covers a whole key or
 * value: a quoted string to its closing quote, a bracket alone, anything
 * else up to a separator. At least one character unless at the end.
 */
export function tokenEnd(text: string, from: number): number {
  const c = text[from];
  if (c === undefined) return from;
  if (c === '"' || c === "'") {
    for (let k = from + 1; k < text.length; k++) {
      const d = text[k];
      if (d === '\n') return k;
      if (c === '"' && d === '\\') k++;
      else if (d === c) return k + 1;
    }
    return text.length;
  }
  if ('{}[],:'.includes(c)) return from + 1;
  let k = from;
  while (k < text.length) {
    const d = text[k]!;
    if (d === '\n' || d === '\r' || d === ',' || d === '}' || d === ']' || d === '#') break;
    if (d === ':' && /[\s]/.test(text[k + 1] ?? ' ')) break;
    k++;
  }
  while (k > from + 1 && /\s/.test(text[k - 1]!)) k--;
  return Math.max(k, from + 1);
}
