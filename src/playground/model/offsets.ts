/** Offsets in editor text: line starts, and where each character of a quoted string's value sits in its source. */

/** The offset of each line's first character. */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let k = 0; k < text.length; k++) if (text.charCodeAt(k) === 10) starts.push(k + 1);
  return starts;
}

const SIMPLE_ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);

/**
 * For the quoted string starting at `start` in `text` (JSON, or a YAML
 * double- or single-quoted scalar on one line): the offset in `text` of the
 * source of each UTF-16 unit of the string's value, plus one entry for the
 * closing quote. An escape maps each unit it produces to its backslash
 * (`\uD83D\uDE00` gives two units, each at its own escape). Undefined when
 * the source is not such a string, or when it decodes to another length than
 * `length` (then the caller cannot trust the mapping).
 */
export function escapedStringMap(text: string, start: number, length: number): number[] | undefined {
  const quote = text[start];
  if (quote !== '"' && quote !== "'") return undefined;
  const map: number[] = [];
  let k = start + 1;
  while (k < text.length) {
    const c = text[k]!;
    if (c === '\n' || c === '\r') return undefined;
    if (c === quote) {
      // YAML single quotes write a quote as two.
      if (quote === "'" && text[k + 1] === "'") {
        map.push(k);
        k += 2;
        continue;
      }
      map.push(k);
      return map.length - 1 === length ? map : undefined;
    }
    if (quote === '"' && c === '\\') {
      const e = text[k + 1];
      if (e === 'u') {
        map.push(k);
        k += 6;
      } else if (e !== undefined && SIMPLE_ESCAPES.has(e)) {
        map.push(k);
        k += 2;
      } else {
        return undefined;
      }
      continue;
    }
    map.push(k);
    k++;
  }
  return undefined;
}

/**
 * For a YAML literal block scalar (`|`, `|-`, `|+`) whose indicator is at
 * `start`: the offset in `text` of each UTF-16 unit of `value` (its content
 * lines written one to one after the indentation), plus one entry for its
 * end. Undefined for any other scalar, or when the lines do not read back
 * as `value` (then the caller cannot trust the mapping).
 */
export function literalBlockMap(text: string, start: number, value: string): number[] | undefined {
  if (text[start] !== '|') return undefined;
  let k = text.indexOf('\n', start);
  if (k < 0) return value === '' ? [text.length] : undefined;
  k++;
  const map: number[] = [];
  const lines = value.split('\n');
  // Chomping may drop the final newline or keep extra ones; only the written lines are mapped.
  let indent: number | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (k > text.length) return undefined;
    const end = text.indexOf('\n', k) < 0 ? text.length : text.indexOf('\n', k);
    const source = text.slice(k, end).replace(/\r$/, '');
    if (line === '' && source.trim() === '') {
      if (i < lines.length - 1) map.push(end);
      k = end + 1;
      continue;
    }
    indent ??= source.length - source.trimStart().length;
    if (source.slice(indent) !== line) return undefined;
    for (let c = 0; c < line.length; c++) map.push(k + indent + c);
    if (i < lines.length - 1) map.push(end);
    k = end + 1;
  }
  map.push(Math.min(k, text.length));
  return map.length - 1 === value.length ? map : undefined;
}
