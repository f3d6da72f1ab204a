/**
 * Completion and hover from the bundled JSON Schemas. A small walker of our
 * own rather than codemirror-json-schema: that package pulls in shiki and
 * markdown-it (about 0.75 MB minified even for completion alone), while the
 * policy schemas only need properties, items, enums and descriptions.
 */
import { type CompletionContext, type CompletionResult, type Completion } from '@codemirror/autocomplete';
import { type EditorView, hoverTooltip, type Tooltip } from '@codemirror/view';
import policySchema from '../../schemas/policy.schema.json';
import adminSchema from '../../schemas/admin-settings.schema.json';

type Schema = { [key: string]: unknown };
type Segment = string | number;

function isSchema(v: unknown): v is Schema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function resolveRef(root: Schema, ref: string): Schema | undefined {
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = root;
  for (const part of ref.slice(2).split('/'))
    node = isSchema(node) ? node[part.replaceAll('~1', '/').replaceAll('~0', '~')] : undefined;
  return isSchema(node) ? node : undefined;
}

function deref(root: Schema, s: Schema | undefined): Schema | undefined {
  for (let i = 0; s && typeof s.$ref === 'string' && i < 8; i++) s = resolveRef(root, s.$ref);
  return s;
}

/** Which schema and where its document starts: admin-settings documents have their own, policies pick v1 or v2. */
function rootFor(text: string): { root: Schema; start: Schema } {
  if (/^\s*(?:\{\s*)?["']?(?:mcpPolicy|configurationFileVersion)["']?\s*:/m.test(text)) {
    return { root: adminSchema as Schema, start: adminSchema as Schema };
  }
  const root = policySchema as Schema;
  const v2 = /["']?version["']?\s*:\s*2\b/.test(text);
  const defs = root.$defs as Record<string, Schema>;
  return { root, start: defs[v2 ? 'policy-v2' : 'policy-v1']! };
}

function childSchema(root: Schema, s: Schema | undefined, seg: Segment): Schema | undefined {
  s = deref(root, s);
  if (!s) return undefined;
  if (typeof seg === 'number') return isSchema(s.items) ? deref(root, s.items) : undefined;
  const props = s.properties as Record<string, Schema> | undefined;
  if (props?.[seg]) return deref(root, props[seg]);
  return isSchema(s.additionalProperties) ? deref(root, s.additionalProperties) : undefined;
}

export function schemaAt(text: string, path: readonly Segment[]): Schema | undefined {
  const { root, start } = rootFor(text);
  let s: Schema | undefined = start;
  for (const seg of path) s = childSchema(root, s, seg);
  return deref(root, s);
}

interface Frame {
  kind: 'object' | 'array';
  key?: string;
  index: number;
  expectKey: boolean;
}

interface JsonContext {
  /** Path of the innermost container at the position. */
  container: Segment[];
  frame?: Frame;
  /** Set when the position is inside a string literal: where its text starts. */
  stringStart?: number;
}

/** Scans JSON text up to `pos` with a tolerant tokenizer, so half-typed documents still give a path. */
function jsonContext(text: string, pos: number): JsonContext {
  const stack: Frame[] = [];
  let i = 0;
  while (i < pos) {
    const c = text[i]!;
    if (c === '"') {
      const start = i + 1;
      let j = start;
      while (j < text.length && text[j] !== '"' && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
      if (j >= pos) return { container: pathOf(stack), frame: stack.at(-1), stringStart: start };
      const top = stack.at(-1);
      if (top?.kind === 'object' && top.expectKey) {
        try {
          top.key = JSON.parse(text.slice(i, j + 1)) as string;
        } catch {
          top.key = text.slice(start, j);
        }
      }
      i = j + 1;
      continue;
    }
    const top = stack.at(-1);
    if (c === '{') stack.push({ kind: 'object', index: 0, expectKey: true });
    else if (c === '[') stack.push({ kind: 'array', index: 0, expectKey: false });
    else if (c === '}' || c === ']') stack.pop();
    else if (c === ':' && top?.kind === 'object') top.expectKey = false;
    else if (c === ',' && top) {
      if (top.kind === 'object') {
        top.expectKey = true;
        top.key = undefined;
      } else top.index++;
    }
    i++;
  }
  return { container: pathOf(stack), frame: stack.at(-1) };
}

function pathOf(stack: readonly Frame[]): Segment[] {
  return stack.slice(0, -1).map((f) => (f.kind === 'object' ? (f.key ?? '') : f.index));
}

/** The mapping path of a YAML key at `col` on line `lineNo`, from the indentation of the lines above. */
function yamlPath(lines: readonly string[], lineNo: number, col: number, dashCol: number | undefined): Segment[] {
  const path: Segment[] = [];
  if (dashCol !== undefined) {
    path.unshift(0);
    col = dashCol;
  }
  for (let n = lineNo - 1; n >= 0 && col > 0; n--) {
    const m =
      /^(\s*)((?:-\s+)*)(?:(["']?)([^\s:#'"][^:#]*?)\3\s*:(\s*(?:#.*)?)$|(["']?)([^\s:#'"][^:#]*?)\6\s*:\s)?/.exec(
        lines[n]!,
      );
    if (!m || lines[n]!.trim() === '' || lines[n]!.trim().startsWith('#')) continue;
    const indent = m[1]!.length;
    const keyCol = indent + m[2]!.length;
    const dash = m[2]!.length > 0 ? indent : undefined;
    if (keyCol < col && m[4] !== undefined) {
      path.unshift(m[4]);
      col = keyCol;
      if (dash !== undefined) {
        path.unshift(0);
        col = dash;
      }
    } else if (keyCol <= col && dash !== undefined && dash < col) {
      path.unshift(0);
      col = dash;
    }
  }
  return path;
}

function describe(s: Schema | undefined): string {
  if (!s) return '';
  const parts: string[] = [];
  if (typeof s.type === 'string') parts.push(s.type);
  if (Array.isArray(s.enum)) parts.push(`one of ${s.enum.map((v) => JSON.stringify(v)).join(', ')}`);
  if (s.const !== undefined) parts.push(`always ${JSON.stringify(s.const)}`);
  const head = parts.join(', ');
  return typeof s.description === 'string' ? `${head}${head ? ': ' : ''}${s.description}` : head;
}

/** Writes `insert` over the typed prefix and over the quote the editor closed by itself, so none is left doubled. */
function closingQuote(insert: string): (view: EditorView, c: Completion, from: number, to: number) => void {
  return (view, _c, from, to) => {
    const end = view.state.sliceDoc(to, to + 1) === '"' ? to + 1 : to;
    view.dispatch({ changes: { from, to: end, insert }, selection: { anchor: from + insert.length } });
  };
}

/** How a completion is written: JSON quotes it (and closes an open quote), YAML writes it bare. */
type Style = 'json' | 'json-in-string' | 'yaml';

function keyOptions(text: string, container: readonly Segment[], style: Style): Completion[] {
  const s = schemaAt(text, container);
  const props = (s?.properties ?? {}) as Record<string, Schema>;
  const root = rootFor(text).root;
  return Object.entries(props).map(([name, p]) => ({
    label: name,
    type: 'property',
    detail: describe(deref(root, p)).split(':')[0],
    info: describe(deref(root, p)),
    apply: style === 'json' ? `"${name}": ` : style === 'json-in-string' ? closingQuote(`${name}": `) : `${name}: `,
  }));
}

function valueOptions(s: Schema | undefined, style: Style): Completion[] {
  if (!s) return [];
  const values: unknown[] = Array.isArray(s.enum)
    ? s.enum
    : s.const !== undefined
      ? [s.const]
      : s.type === 'boolean'
        ? [true, false]
        : [];
  return values
    .filter((v) => style !== 'json-in-string' || typeof v === 'string')
    .map((v) => ({
      label: typeof v === 'string' ? v : JSON.stringify(v),
      type: typeof v === 'string' ? 'enum' : 'constant',
      apply:
        typeof v !== 'string' || style === 'yaml'
          ? String(v)
          : style === 'json'
            ? JSON.stringify(v)
            : closingQuote(`${v}"`),
    }));
}

export function schemaCompletion(ctx: CompletionContext): CompletionResult | null {
  const text = ctx.state.doc.toString();
  const pos = ctx.pos;
  if (/^\s*[{[]/.test(text) || text.trim() === '') {
    const jc = jsonContext(text, pos);
    const inString = jc.stringStart !== undefined;
    const word = ctx.matchBefore(/[\w$-]*/);
    const from = inString ? jc.stringStart! : (word?.from ?? pos);
    if (!ctx.explicit && from === pos && !inString) return null;
    const style: Style = inString ? 'json-in-string' : 'json';
    const frame = jc.frame;
    if (frame?.kind === 'object' && frame.expectKey) {
      return { from, options: keyOptions(text, jc.container, style), validFor: /^[\w$-]*$/ };
    }
    const path = frame?.kind === 'object' ? [...jc.container, frame.key ?? ''] : [...jc.container, frame?.index ?? 0];
    const options = valueOptions(schemaAt(text, path), style);
    return options.length > 0 ? { from, options, validFor: /^[\w$-]*$/ } : null;
  }
  const line = ctx.state.doc.lineAt(pos);
  const before = line.text.slice(0, pos - line.from);
  const lines = text.split('\n');
  const keyAt = /^(\s*)((?:-\s+)*)([\w$]*)$/.exec(before);
  if (keyAt) {
    if (!ctx.explicit && keyAt[3] === '') return null;
    const indent = keyAt[1]!.length;
    const col = indent + keyAt[2]!.length;
    const path = yamlPath(lines, line.number - 1, col, keyAt[2] ? indent : undefined);
    return { from: pos - keyAt[3]!.length, options: keyOptions(text, path, 'yaml'), validFor: /^[\w$]*$/ };
  }
  const valueAt = /^(\s*)((?:-\s+)*)([\w$]+):\s*([\w$]*)$/.exec(before);
  if (valueAt) {
    const indent = valueAt[1]!.length;
    const col = indent + valueAt[2]!.length;
    const path = [...yamlPath(lines, line.number - 1, col, valueAt[2] ? indent : undefined), valueAt[3]!];
    const options = valueOptions(schemaAt(text, path), 'yaml');
    return options.length > 0 ? { from: pos - valueAt[4]!.length, options, validFor: /^[\w$]*$/ } : null;
  }
  return null;
}

/** The key under `pos` and its schema path, or undefined when `pos` is not on a key. */
export function keyAt(text: string, pos: number): { from: number; to: number; path: Segment[] } | undefined {
  const lineStart = text.lastIndexOf('\n', pos - 1) + 1;
  let lineEnd = text.indexOf('\n', pos);
  if (lineEnd < 0) lineEnd = text.length;
  const lineText = text.slice(lineStart, lineEnd);
  if (/^\s*[{[]/.test(text)) {
    for (const m of lineText.matchAll(/"((?:[^"\\]|\\.)*)"\s*:/g)) {
      const from = lineStart + m.index;
      const to = from + m[1]!.length + 2;
      if (pos < from || pos > to) continue;
      const jc = jsonContext(text, from);
      if (jc.frame?.kind !== 'object') return undefined;
      return { from, to, path: [...jc.container, m[1]!] };
    }
    return undefined;
  }
  const m = /^(\s*)((?:-\s+)*)(["']?)([\w$]+)\3\s*:/.exec(lineText);
  if (!m) return undefined;
  const indent = m[1]!.length;
  const col = indent + m[2]!.length;
  const from = lineStart + col;
  const to = from + m[3]!.length * 2 + m[4]!.length;
  if (pos < from || pos > to) return undefined;
  const lines = text.split('\n');
  const lineNo = text.slice(0, lineStart).split('\n').length - 1;
  return { from, to, path: [...yamlPath(lines, lineNo, col, m[2] ? indent : undefined), m[4]!] };
}

export const schemaHover = hoverTooltip((view, pos): Tooltip | null => {
  const text = view.state.doc.toString();
  const key = keyAt(text, pos);
  if (!key) return null;
  const info = describe(schemaAt(text, key.path));
  if (!info) return null;
  return {
    pos: key.from,
    end: key.to,
    above: true,
    create: () => {
      const dom = document.createElement('div');
      dom.className = 'schema-hover';
      dom.textContent = `${String(key.path.at(-1))}: ${info}`;
      return { dom };
    },
  };
});
