/**
 * How validators describe problems: the `Report` they collect issues in, and
 * the helpers that make messages consistent (type descriptions, "did you
 * mean" hints) and place issues at a line and column.
 */
import { type ErrorCode, type Issue, toPointer } from '../core/errors.js';
import { type JsonDocument } from './json.js';

/** A path into a document, as segments; see {@link toPointer}. */
export type Path = readonly (string | number)[];

/** An issue before positions are added; `atKey` places it at the member's key rather than its value. */
export interface Found extends Issue {
  readonly atKey?: boolean;
}

/** Errors and warnings found while validating one document. */
export class Report {
  readonly errors: Found[] = [];
  readonly warnings: Found[] = [];

  error(code: ErrorCode, path: Path, message: string, atKey = false): void {
    this.errors.push({ code, path: toPointer(path), message, ...(atKey && { atKey }) });
  }

  warn(code: ErrorCode, path: Path, message: string, atKey = false): void {
    this.warnings.push({ code, path: toPointer(path), message, ...(atKey && { atKey }) });
  }

  /** `subject must be expected, not <value>`, as `invalid_type`. */
  typeError(path: Path, subject: string, expected: string, value: unknown, hint = ''): void {
    this.error('invalid_type', path, `${subject} must be ${expected}, not ${describeValue(value)}${hint}`);
  }

  /** Checks that `value` is an object and reports fields other than `fields`. */
  objectWithFields(
    value: unknown,
    path: Path,
    label: string,
    fields: readonly string[],
  ): Record<string, unknown> | undefined {
    if (!isObject(value)) {
      this.typeError(path, label, 'an object', value);
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (!fields.includes(key)) this.unknownField([...path, key], key, fields);
    }
    return value;
  }

  /** Checks that `value` is one of the strings in `allowed`, with a hint for near misses. */
  oneOf<T extends string>(value: unknown, allowed: readonly T[], path: Path, label: string): T | undefined {
    if (typeof value !== 'string') {
      this.typeError(path, label, 'a string', value);
      return undefined;
    }
    if ((allowed as readonly string[]).includes(value)) return value as T;
    const hint = suggest(value, allowed);
    this.error(
      'invalid_value',
      path,
      `unknown ${label} ${JSON.stringify(value)}; expected one of ${choices(allowed)}${hint ? `; did you mean ${JSON.stringify(hint)}?` : ''}`,
    );
    return undefined;
  }

  /** An unknown key, with a hint when it is close to a known one. */
  unknownField(path: Path, key: string, known: readonly string[], extra = ''): void {
    const hint = suggest(key, known);
    this.error(
      'unknown_field',
      path,
      `unknown field ${JSON.stringify(key)}${hint ? `; did you mean ${JSON.stringify(hint)}?` : ''}${extra}`,
      true,
    );
  }
}

/** Drops the placement hint, for issues reported without a source text. */
export function strip({ atKey: _atKey, ...issue }: Found): Issue {
  return issue;
}

/** Places found issues in a read document: at the key when asked, else at the value or its nearest ancestor. */
export function place(found: readonly Found[], doc: JsonDocument): Issue[] {
  return locate(
    found.map(({ atKey, ...issue }) => {
      const key = atKey ? doc.keyPositions.get(issue.path) : undefined;
      return key ? { ...issue, ...key } : issue;
    }),
    doc,
  );
}

/**
 * Adds line and column to issues that have none (and are not `within` an
 * embedded string): unknown fields at their key, others at their value or
 * the nearest ancestor that exists in the document.
 */
export function locate(issues: readonly Issue[], doc: JsonDocument): Issue[] {
  return issues.map((issue) => {
    if (issue.line !== undefined || issue.within !== undefined) return issue;
    // Unknown keys and missing fields point at a member that may not exist:
    // fall back to the nearest ancestor that does.
    const key = issue.code === 'unknown_field' ? doc.keyPositions.get(issue.path) : undefined;
    if (key) return { ...issue, ...key };
    let p = issue.path;
    for (;;) {
      const pos = doc.positions.get(p);
      if (pos) return { ...issue, ...pos };
      if (p === '') return issue;
      p = p.slice(0, p.lastIndexOf('/'));
    }
  });
}

/** `expected` with its indefinite article, e.g. "an object". */
export function article(expected: string): string {
  if (expected === 'array') return 'an array';
  if (expected === 'object') return 'an object';
  return `a ${expected}`;
}

/** Describes a value for messages, quoting strings, e.g. `the string "x"`, `the number 1`, `null`. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'number' && !Number.isFinite(v)) return `the number ${String(v)}`;
  return `the ${typeof v} ${JSON.stringify(v)}`;
}

/** The closest known field name, for "did you mean" hints on typos. */
export function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = k;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  // Keys longer than any known name cannot be close to one; this also keeps a
  // megabyte-long key from costing a quadratic comparison.
  if (Math.abs(a.length - b.length) > Math.max(2, Math.floor(a.length / 3))) return Infinity;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(
        (prev[j] ?? 0) + 1,
        (cur[j - 1] ?? 0) + 1,
        (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** The allowed values, quoted and comma-separated, for messages. */
export function choices(values: readonly string[]): string {
  return values.map((v) => JSON.stringify(v)).join(', ');
}

/** A plain JSON object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Lower-cases the first letter of a library's message, for our message style. */
export function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
