/**
 * The YAML reader: YAML (and so JSON) text into plain JSON-like values with
 * the same positions and issues as the JSON reader. Hostile documents are
 * bounded before the `yaml` package composes them: size, nesting depth and
 * alias count are checked on the text and on its concrete syntax tree (built
 * without recursion), and aliases are resolved through an anchor table built
 * in one pass, so reading is linear in the text plus the (bounded) values
 * that aliases expand to.
 */
import { isAlias, isMap, isScalar, isSeq, Parser, parseDocument, visit } from 'yaml';
import { type ErrorCode, type Issue, pointerToken } from '../core/errors.js';
import { type JsonDocument, type Position, positionFinder, ReadFailure } from './json.js';
import { MAX_DEPTH, MAX_YAML_ALIASES, MAX_YAML_CHARS, MAX_YAML_VALUES } from './limits.js';
import { lowerFirst } from './report.js';

class YamlFailure extends ReadFailure {
  constructor(message: string, offset: number, code: ErrorCode = 'invalid_yaml', pointer = '') {
    super(message, offset, code, pointer);
  }
}

/**
 * Reads YAML text into plain JSON-like values, recording where each value
 * and each key starts, by JSON pointer. Syntax errors are `invalid_yaml`;
 * duplicate keys are `duplicate_key` at the second occurrence (the first
 * occurrence is kept, as the JSON reader does); documents beyond the limits
 * in `limits.ts` are `too_large`, `too_deep` or `too_many_aliases`. Never throws.
 */
export function readYaml(text: string): JsonDocument {
  const positions = new Map<string, Position>();
  const keyPositions = new Map<string, Position>();
  const positionOf = positionFinder(text);
  const failure = (e: YamlFailure): JsonDocument => ({
    value: undefined,
    positions,
    keyPositions,
    issues: [
      {
        code: e.code,
        path: e.pointer,
        // The root is named only when it is meant, and then the message says so.
        message:
          e.pointer === '' && !e.message.includes('the document')
            ? `the document is not valid YAML: ${e.message}`
            : e.message,
        ...positionOf(e.offset),
      },
    ],
  });

  try {
    if (text.length > MAX_YAML_CHARS) {
      throw new YamlFailure(
        `the document is ${text.length} characters long; the limit is ${MAX_YAML_CHARS}`,
        0,
        'too_large',
      );
    }
    preScan(text);
    // uniqueKeys is off because the package compares every key with every
    // other (quadratic in a map's size); the walk below finds duplicates with
    // a hash lookup instead, and also those YAML tells apart but JSON cannot
    // (`1` and "1").
    const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: false });
    // Like the JSON reader, report the first syntax error only: later ones tend to be its echoes.
    const syntax = doc.errors[0];
    if (syntax) {
      throw new YamlFailure(lowerFirst(syntax.message), syntax.pos[0], 'invalid_yaml', pointerAt(doc, syntax.pos[0]));
    }
    return compose(doc, positions, keyPositions, positionOf);
  } catch (e) {
    if (e instanceof YamlFailure) return failure(e);
    // Defensive: the checks above should leave the package nothing to throw on.
    const message = e instanceof Error ? e.message : String(e);
    return failure(new YamlFailure(lowerFirst(message), 0));
  }
}

/**
 * Checks nesting depth and the number of aliases on the concrete syntax tree
 * before the document is composed: composing recurses (past a few hundred
 * levels the package runs out of stack, after which Node can abort the whole
 * process on a later parse instead of throwing), and each alias may expand.
 */
function preScan(text: string): void {
  let aliases = 0;
  for (const token of new Parser().parse(text)) {
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
      if (Array.isArray(t.items) && depth >= MAX_DEPTH) {
        throw new YamlFailure(`the document is nested more than ${MAX_DEPTH} levels deep`, t.offset ?? 0, 'too_deep');
      }
      if (t.type === 'alias' && ++aliases > MAX_YAML_ALIASES) {
        throw new YamlFailure(
          `the document has more than ${MAX_YAML_ALIASES} aliases`,
          t.offset ?? 0,
          'too_many_aliases',
        );
      }
      // Pushed last to first, so the walk meets them in document order and reports the first offender.
      if (t.type === 'document') stack.push([t.value, depth]);
      else if (Array.isArray(t.items)) {
        for (let k = t.items.length - 1; k >= 0; k--) {
          const item = t.items[k]!;
          stack.push([item.value, depth + 1], [item.key, depth + 1]);
        }
      }
    }
  }
}

type Doc = ReturnType<typeof parseDocument>;

/** The pointer of the innermost value whose source range holds `offset`; `""` when only the document does. */
function pointerAt(doc: Doc, offset: number): string {
  let pointer = '';
  let node: unknown = doc.contents;
  for (let depth = 0; depth <= MAX_DEPTH && node; depth++) {
    let next: unknown;
    if (isMap(node)) {
      for (const pair of node.items) {
        const value = pair.value as { range?: [number, number, number] } | null;
        const key = pair.key as { range?: [number, number, number] } | null;
        const start = key?.range?.[0] ?? value?.range?.[0];
        const end = value?.range?.[2] ?? key?.range?.[2];
        if (start !== undefined && end !== undefined && start <= offset && offset <= end) {
          const raw = isScalar(pair.key) ? pair.key.value : null;
          pointer += `/${pointerToken(raw === null || raw === undefined ? '' : String(raw))}`;
          next = pair.value;
          break;
        }
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, k) => {
        const range = (item as { range?: [number, number, number] } | null)?.range;
        if (next === undefined && range && range[0] <= offset && offset <= range[2]) {
          pointer += `/${k}`;
          next = item;
        }
      });
    }
    node = next;
  }
  return pointer;
}

function compose(
  doc: Doc,
  positions: Map<string, Position>,
  keyPositions: Map<string, Position>,
  positionOf: (offset: number) => Position,
): JsonDocument {
  // An alias names the closest anchor before it in document order; one walk
  // resolves them all (the package's own lookup walks the document per alias).
  const anchors = new Map<string, unknown>();
  const targets = new Map<unknown, unknown>();
  visit(doc, {
    Node: (_key, node) => {
      if (isAlias(node)) targets.set(node, anchors.get(node.source));
      else if (node.anchor !== undefined) anchors.set(node.anchor, node);
    },
  });

  const issues: Issue[] = [];
  const duplicateOffsets = new Set<number>();
  const open = new Set<unknown>();
  let count = 0;

  const build = (node: unknown, pointer: string): unknown => {
    if (node === null || node === undefined) return null;
    const start = (node as { range?: [number, number, number] }).range?.[0];
    if (++count > MAX_YAML_VALUES) {
      throw new YamlFailure(
        `the document has more than ${MAX_YAML_VALUES} values after expanding aliases`,
        start ?? 0,
        'too_large',
        pointer,
      );
    }
    if (start !== undefined && !positions.has(pointer)) positions.set(pointer, positionOf(start));
    if (isAlias(node)) {
      const target = targets.get(node);
      const name = JSON.stringify(`*${node.source}`);
      if (!target) throw new YamlFailure(`unknown alias ${name}`, start ?? 0, 'invalid_yaml', pointer);
      if (open.has(target)) {
        throw new YamlFailure(`alias ${name} refers to a value that contains it`, start ?? 0, 'invalid_yaml', pointer);
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
        const keyNode = isAlias(pair.key) ? targets.get(pair.key) : pair.key;
        const keyStart = (pair.key as { range?: [number, number, number] } | null)?.range?.[0] ?? start ?? 0;
        if (keyNode !== null && keyNode !== undefined && !isScalar(keyNode)) {
          throw new YamlFailure(
            'mapping keys must be plain values, not collections',
            keyStart,
            'invalid_yaml',
            pointer,
          );
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

  const value = build(doc.contents, '');
  // An empty document has no node to take a position from: it starts where the text does.
  if (!positions.has('')) positions.set('', { line: 1, column: 1 });
  return { value, positions, keyPositions, issues };
}
