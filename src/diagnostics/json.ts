/**
 * A strict JSON reader (RFC 8259) that, unlike JSON.parse, reports duplicate
 * object keys (JSON.parse silently keeps the last one, so a second `"allow"`
 * could flip a rule unnoticed) and remembers where each value starts, so
 * validation errors can name a line and column as well as a JSON pointer.
 */
import { type ErrorCode, type Issue, pointerToken } from '../core/errors.js';
import { MAX_DEPTH } from './limits.js';

/** A position in source text, 1-based. */
export interface Position {
  readonly line: number;
  readonly column: number;
}

/** The result of reading JSON text. `value` is undefined when `issues` holds a syntax error. */
export interface JsonDocument {
  readonly value: unknown;
  /** Start position of every value, by JSON pointer. */
  readonly positions: ReadonlyMap<string, Position>;
  /** Start position of the key of every object member, by the member's JSON pointer. */
  readonly keyPositions: ReadonlyMap<string, Position>;
  /** Syntax errors (`invalid_json`), nesting beyond the limit (`too_deep`) and duplicate keys (`duplicate_key`). */
  readonly issues: readonly Issue[];
}

/** Thrown inside a reader to stop at the first problem; never escapes it. */
export class ReadFailure extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly code: ErrorCode,
    readonly pointer = '',
  ) {
    super(message);
  }
}

class SyntaxFailure extends ReadFailure {
  constructor(message: string, offset: number, code: ErrorCode = 'invalid_json', pointer = '') {
    super(message, offset, code, pointer);
  }
}

const ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

/** Maps offsets in `text` to 1-based line and column (a binary search over line starts). */
export function positionFinder(text: string): (offset: number) => Position {
  const lineStarts: number[] = [0];
  for (let k = 0; k < text.length; k++) if (text.charCodeAt(k) === 10) lineStarts.push(k + 1);
  return (offset) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lineStarts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (lineStarts[lo] ?? 0) + 1 };
  };
}

/**
 * Reads JSON text, collecting positions and duplicate keys. Never throws:
 * nesting deeper than {@link MAX_DEPTH} is a `too_deep` error at the
 * collection that crosses the limit, so recursion stays shallow.
 */
export function readJson(text: string): JsonDocument {
  const positions = new Map<string, Position>();
  const keyPositions = new Map<string, Position>();
  const issues: Issue[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;

  // Every value records its offset cheaply; offsets become positions at the end.
  const offsets = new Map<string, number>();
  const keyOffsets = new Map<string, number>();
  const positionOf = positionFinder(text);

  const skipWhitespace = (): void => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else return;
    }
  };

  const describeAt = (offset: number): string => {
    if (offset >= text.length) return 'end of input';
    return JSON.stringify(String.fromCodePoint(text.codePointAt(offset) ?? 0));
  };

  const expect = (literal: string): void => {
    if (text.startsWith(literal, i)) {
      i += literal.length;
      return;
    }
    throw new SyntaxFailure(`unexpected ${describeAt(i)}`, i);
  };

  const readString = (): string => {
    const start = i;
    i++; // opening quote
    let out = '';
    let chunk = i;
    for (;;) {
      if (i >= text.length) throw new SyntaxFailure('unterminated string', start);
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(chunk, i);
        i++;
        return out;
      }
      if (c < 0x20) {
        throw new SyntaxFailure('control character in string must be escaped', i);
      }
      if (c === 0x5c) {
        out += text.slice(chunk, i);
        const e = text[i + 1];
        if (e === 'u') {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new SyntaxFailure('invalid \\u escape', i);
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
        } else if (e !== undefined && e in ESCAPES) {
          out += ESCAPES[e];
          i += 2;
        } else {
          throw new SyntaxFailure(`invalid escape ${describeAt(i + 1)}`, i);
        }
        chunk = i;
        continue;
      }
      i++;
    }
  };

  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

  // The value being read, so a syntax error can name where in the document it is.
  let current = '';
  const readValue = (pointer: string, depth: number): unknown => {
    skipWhitespace();
    current = pointer;
    offsets.set(pointer, i);
    const c = text[i];
    if ((c === '{' || c === '[') && depth >= MAX_DEPTH) {
      throw new SyntaxFailure(`the document is nested more than ${MAX_DEPTH} levels deep`, i, 'too_deep', pointer);
    }
    if (c === '{') {
      i++;
      const obj: Record<string, unknown> = {};
      const seen = new Set<string>();
      skipWhitespace();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        skipWhitespace();
        if (text[i] !== '"') throw new SyntaxFailure(`expected a string key, found ${describeAt(i)}`, i);
        const keyOffset = i;
        const key = readString();
        skipWhitespace();
        expect(':');
        const child = `${pointer}/${pointerToken(key)}`;
        if (!keyOffsets.has(child)) keyOffsets.set(child, keyOffset);
        if (seen.has(key)) {
          issues.push({
            code: 'duplicate_key',
            path: child,
            message: `duplicate key ${JSON.stringify(key)}`,
            ...positionOf(keyOffset),
          });
        }
        seen.add(key);
        const value = readValue(child, depth + 1);
        current = pointer;
        // Keep the first occurrence: the error above already rejects the document.
        if (!Object.prototype.hasOwnProperty.call(obj, key)) {
          Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
        }
        skipWhitespace();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return obj;
        }
        throw new SyntaxFailure(`expected "," or "}", found ${describeAt(i)}`, i);
      }
    }
    if (c === '[') {
      i++;
      const arr: unknown[] = [];
      skipWhitespace();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(readValue(`${pointer}/${arr.length}`, depth + 1));
        current = pointer;
        skipWhitespace();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return arr;
        }
        throw new SyntaxFailure(`expected "," or "]", found ${describeAt(i)}`, i);
      }
    }
    if (c === '"') return readString();
    if (c === 't') {
      expect('true');
      return true;
    }
    if (c === 'f') {
      expect('false');
      return false;
    }
    if (c === 'n') {
      expect('null');
      return null;
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m && m[0].length > 0 && m[0] !== '-') {
      i += m[0].length;
      return Number(m[0]);
    }
    throw new SyntaxFailure(`unexpected ${describeAt(i)}`, i);
  };

  let value: unknown;
  try {
    skipWhitespace();
    if (i >= text.length) throw new SyntaxFailure('the document is empty', i, 'empty_document');
    value = readValue('', 0);
    skipWhitespace();
    if (i < text.length) throw new SyntaxFailure(`unexpected ${describeAt(i)} after the document`, i);
  } catch (e) {
    if (!(e instanceof SyntaxFailure)) throw e;
    // Every issue names a place; the root only when the root itself is meant, and then the message says so.
    const path = e.code === 'invalid_json' ? current : e.pointer;
    const message =
      path === '' && !e.message.includes('the document') ? `the document is not valid JSON: ${e.message}` : e.message;
    return {
      value: undefined,
      positions,
      keyPositions,
      issues: [{ code: e.code, path, message, ...positionOf(e.offset) }],
    };
  }
  for (const [pointer, offset] of offsets) positions.set(pointer, positionOf(offset));
  for (const [pointer, offset] of keyOffsets) keyPositions.set(pointer, positionOf(offset));
  return { value, positions, keyPositions, issues };
}

/** A copy of a JSON value with object keys sorted at every level, for stable output and order-blind comparison. */
export function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeysDeep((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}
