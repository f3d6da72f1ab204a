/**
 * Deciding a stream of requests (JSON Lines) in bounded memory: lines are read
 * as they arrive, decided in chunks through the engine's `decideBatch` (which
 * costs no more per request than deciding each alone), and written in order, waiting whenever the output cannot take more. Input
 * that is one JSON document over several lines (a pretty-printed request) is
 * read whole, as before: only JSON Lines stream.
 */
import { open } from 'node:fs/promises';
import { type Engine } from './engine.js';
import { McpPolicyError } from '../core/errors.js';
import { type Decision, INVALID_REQUEST_REASON } from '../policy/model.js';

/** One input item: a request, or why its line could not be read. */
export type RequestEntry = { readonly request: unknown } | { readonly error: string };

/**
 * Reads request text: one JSON document, or else JSON Lines (blank lines
 * skipped, a line that is not JSON becomes an error entry naming its line).
 */
export function parseRequests(text: string): RequestEntry[] {
  // A byte-order mark is not part of the first request, as for policy files.
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  const trimmed = text.trim();
  if (trimmed === '') return [];
  try {
    return [{ request: JSON.parse(trimmed) as unknown }];
  } catch {
    // Not one document: read it as JSON Lines.
  }
  const out: RequestEntry[] = [];
  text.split('\n').forEach((line, k) => {
    const entry = parseLine(line, k + 1);
    if (entry) out.push(entry);
  });
  return out;
}

function parseLine(line: string, number: number): RequestEntry | undefined {
  if (line.trim() === '') return undefined;
  try {
    return { request: JSON.parse(line) as unknown };
  } catch (e) {
    return { error: `line ${number}: invalid JSON: ${(e as Error).message}` };
  }
}

/** The compact one-line form of a decision that `eval` prints, keys in a stable order. */
export function decisionLine(d: Decision): string {
  const ordered: Decision = { allowed: d.allowed, reason: d.reason, rule: d.rule };
  if (d.directive !== undefined) ordered.directive = d.directive;
  if (d.warning !== undefined) ordered.warning = d.warning;
  if (d.error !== undefined) ordered.error = d.error;
  return JSON.stringify(ordered);
}

/** Where decisions go: `write` returns false when the sink is full; `drain` then resolves once it is not. */
export interface DecisionSink {
  write(text: string): boolean | void;
  drain?(): Promise<void>;
}

/** Options for {@link decideStream}. */
export interface StreamOptions {
  /** Requests decided per engine call (default 1,000). */
  readonly batchSize?: number;
  /** Called after each batch is decided and before it is written; throwing stops the stream. */
  readonly check?: () => void;
  /** How to print a decision (default {@link decisionLine}). */
  readonly format?: (d: Decision) => string;
}

/** Opens a requests file for {@link decideStream}; throws `read_failed` naming the file. */
export async function openRequestFile(path: string): Promise<AsyncIterable<Uint8Array>> {
  try {
    const handle = await open(path, 'r');
    if ((await handle.stat()).isDirectory()) {
      await handle.close();
      throw Object.assign(new Error('is a folder'), { code: 'EISDIR' });
    }
    return handle.createReadStream();
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new McpPolicyError('read_failed', `cannot read ${path}: ${why}`, { cause: e });
  }
}

/** Splits a stream of text chunks into lines (without the newline), holding at most one partial line. */
async function* lines(chunks: AsyncIterable<string | Uint8Array> | Iterable<string>): AsyncGenerator<string> {
  // The decoder drops a byte-order mark from bytes; text chunks have theirs dropped here.
  const decoder = new TextDecoder();
  let partial = '';
  let first = true;
  for await (const chunk of chunks) {
    partial += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    if (first && partial !== '') {
      if (partial.startsWith('\uFEFF')) partial = partial.slice(1);
      first = false;
    }
    let start = 0;
    for (let nl = partial.indexOf('\n'); nl >= 0; nl = partial.indexOf('\n', start)) {
      yield partial.slice(start, nl);
      start = nl + 1;
    }
    partial = partial.slice(start);
  }
  partial += decoder.decode();
  if (partial !== '') yield partial;
}

/**
 * Decides every request of `input` and writes one decision line per request,
 * in input order. Memory holds one batch of requests and decisions (plus, for
 * input that is not JSON Lines, the whole input). Returns how many decisions
 * were written.
 */
export async function decideStream(
  engine: Engine,
  input: AsyncIterable<string | Uint8Array> | Iterable<string>,
  sink: DecisionSink,
  options: StreamOptions = {},
): Promise<number> {
  const batchSize = Math.max(1, options.batchSize ?? 1000);
  const format = options.format ?? decisionLine;
  let written = 0;
  const flush = async (entries: readonly RequestEntry[]): Promise<void> => {
    if (entries.length === 0) return;
    const requests = entries.flatMap((e) => ('request' in e ? [e.request] : []));
    const decisions = requests.length > 0 ? await engine.decideBatch(requests) : [];
    options.check?.();
    let k = 0;
    let text = '';
    for (const entry of entries) {
      const d: Decision =
        'request' in entry
          ? (decisions[k++] as Decision)
          : { allowed: false, reason: INVALID_REQUEST_REASON, rule: null, error: entry.error };
      text += `${format(d)}\n`;
    }
    written += entries.length;
    if (sink.write(text) === false && sink.drain) await sink.drain();
  };

  const it = lines(input)[Symbol.asyncIterator]();
  // Look at the first non-blank line: valid JSON means JSON Lines; otherwise
  // the input may be one document over several lines, which is read whole.
  const head: string[] = [];
  let first: RequestEntry | undefined;
  for (let r = await it.next(); !r.done; r = await it.next()) {
    head.push(r.value);
    first = parseLine(r.value, head.length);
    if (first) break;
  }
  if (first === undefined) return 0;
  if ('error' in first) {
    const rest: string[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
    const entries = parseRequests([...head, ...rest].join('\n'));
    for (let k = 0; k < entries.length; k += batchSize) await flush(entries.slice(k, k + batchSize));
    return written;
  }
  let batch: RequestEntry[] = [first];
  let number = head.length;
  for (let r = await it.next(); !r.done; r = await it.next()) {
    const entry = parseLine(r.value, ++number);
    if (!entry) continue;
    batch.push(entry);
    if (batch.length >= batchSize) {
      await flush(batch);
      batch = [];
    }
  }
  await flush(batch);
  return written;
}
