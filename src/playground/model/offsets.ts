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
