/**
 * Decision logs for every front end: one record shape (`serve`, `proxy` and the
 * OPA uploader all write it) and one sink interface. A sink takes records
 * without blocking and without failing; whatever it cannot keep (a full queue,
 * a record that cannot be serialised, a failing destination, a write after
 * close) is dropped and counted by reason, never turned into an error for the
 * caller. Files are the owner's alone: created 0600, never a symbolic link
 * themselves (folders above them are the user's to choose), and only ever
 * regular files.
 */
import { fstatSync, constants as fsConstants } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, rename } from 'node:fs/promises';
import { Socket } from 'node:net';
import { dirname } from 'node:path';
import { describeThrown, fileSystemError, McpPolicyError } from '../core/errors.js';
import { readObjectValue, readRequestValue } from '../engines/request-boundary.js';
import { type Decision } from '../policy/model.js';

/** Where in the MCP traffic the proxy asked for a decision. */
export type ProxyStage =
  | 'start'
  | 'session'
  | 'tools/list'
  | 'tools/call'
  | 'prompts/list'
  | 'prompts/get'
  | 'resources/list'
  | 'resources/templates/list'
  | 'resources/read'
  | 'resources/subscribe'
  | 'resources/unsubscribe'
  | 'completion/complete'
  /** A request of the server to the client (sampling, elicitation, roots), passed through and recorded. */
  | 'server/request';

/**
 * One decision as every host records it (docs/serve.md lists the fields). The
 * request is the copy the request boundary made: plain JSON within the
 * request limits, or `null` with `request_error` saying why it was not kept.
 */
export interface DecisionRecord {
  /** When the decision was made (ISO 8601, UTC). */
  readonly time: string;
  readonly kind: 'decision';
  /** `serve`: the HTTP endpoint that asked. */
  readonly endpoint?: string;
  /** `serve`: the protocol of that endpoint (`docker`, `opa` or `authzen`). */
  readonly family?: string;
  /** `proxy`: where in the MCP traffic the decision was asked. */
  readonly stage?: ProxyStage;
  /** The bundle revision that decided; `null` before any bundle. */
  readonly revision?: string | null;
  readonly request: Readonly<Record<string, unknown>> | null;
  /** Why `request` is `null`: the request was not a plain JSON object within the limits. */
  readonly request_error?: string;
  readonly decision: Decision;
  /**
   * The JSON pointers of the argument conditions of the rule that decided,
   * as the policy wrote them (`*` for every element): which paths of the
   * request's `arguments` decided. Absent when no rule decided or the rule
   * tests no argument.
   */
  readonly argument_paths?: readonly string[];
  /** Time to decide the whole HTTP request, in microseconds (a batch shares it). */
  readonly latency_us?: number;
  /** Set for an element of a batch of more than one. */
  readonly batch?: { readonly index: number; readonly size: number };
  /** Set where a shadow candidate decided differently (with the argument paths of its deciding rule, if any). */
  readonly shadow?: {
    readonly revision: string | null;
    readonly decision: Decision;
    readonly argument_paths?: readonly string[];
  };
  /** `proxy`: the tool pin's reason, when the pin (not the policy) denied. */
  readonly pin?: string;
}

/** An audit event a gateway posted, kept as the request boundary reads it. */
export interface AuditRecord {
  readonly time: string;
  readonly kind: 'audit';
  readonly endpoint: string;
  readonly event: Readonly<Record<string, unknown>> | null;
  /** Why `event` is `null`. */
  readonly event_error?: string;
}

/** What a decision log holds. */
export type LogRecord = DecisionRecord | AuditRecord;

/** The fields of a {@link DecisionRecord} a host supplies; the request is read at the boundary here. */
export type DecisionFields = Omit<DecisionRecord, 'time' | 'kind' | 'request' | 'request_error' | 'argument_paths'> & {
  /** The request as the host received it, or `undefined` when there is none to keep. */
  readonly request: unknown;
  readonly time?: string;
  /**
   * Keep the values of the request's `arguments` (`--log-arguments`). By
   * default each value is replaced by the name of its JSON type, since tool
   * and prompt arguments carry secrets and personal data.
   */
  readonly logArguments?: boolean;
  /**
   * With `logArguments`: members of `arguments` with these names (compared
   * case-insensitively, at any depth) keep only their JSON type, as every
   * value does without `logArguments`.
   */
  readonly redactArguments?: readonly string[];
  /** The deciding rule's argument paths (`argument_paths`; see `decidingPaths` in policy-profile.ts). */
  readonly argumentPaths?: readonly string[] | undefined;
};

/**
 * The JSON type names that stand in for argument values in a decision
 * record: a string becomes `"string"`, and so on. Objects and arrays keep
 * their shape (member names and lengths), so a record still shows which
 * paths a request had.
 */
export type ArgumentTypeName = 'string' | 'number' | 'boolean' | 'null';

function typesOnly(value: unknown): unknown {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.map(typesOnly);
  if (typeof value === 'object') {
    // Null prototype: a member may be named __proto__.
    const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const [k, v] of Object.entries(value)) out[k] = typesOnly(v);
    return out;
  }
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? typeof value : 'null';
}

function redacted(value: unknown, names: ReadonlySet<string>): unknown {
  if (Array.isArray(value)) return value.map((v) => redacted(v, names));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of Object.entries(value)) out[k] = names.has(k.toLowerCase()) ? typesOnly(v) : redacted(v, names);
  return out;
}

/**
 * A request copy whose `arguments` keep their values except under the
 * member names given (case-insensitive, at any depth), which keep only their
 * JSON types; the copy itself when it has no `arguments` or no names are given.
 */
export function withRedactedArguments(
  request: Readonly<Record<string, unknown>>,
  names: readonly string[],
): Readonly<Record<string, unknown>> {
  if (names.length === 0 || !Object.hasOwn(request, 'arguments') || request.arguments === undefined) return request;
  return { ...request, arguments: redacted(request.arguments, new Set(names.map((n) => n.toLowerCase()))) };
}

/**
 * A request copy with the values of its `arguments` replaced by their JSON
 * type names (see {@link ArgumentTypeName}); the copy itself when it has no
 * `arguments` object. `arguments` that is not an object (an invalid request)
 * becomes its type name as a whole.
 */
export function withoutArgumentValues(request: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  if (!Object.hasOwn(request, 'arguments') || request.arguments === undefined) return request;
  return { ...request, arguments: typesOnly(request.arguments) };
}

/**
 * Builds a decision record. The request is copied by the request boundary's
 * rule (depth, size, plain JSON only), so no request can make the record
 * unserialisable; one that is not a plain object within the limits is kept
 * as `null` with the boundary's reason. The values of its `arguments` are
 * replaced by their JSON type names unless `logArguments` is set. Never throws.
 */
export function decisionRecord(fields: DecisionFields): DecisionRecord {
  const read = fields.request === undefined ? undefined : readRequestValue(fields.request);
  const request = read !== undefined && 'request' in read ? read.request : null;
  // Spelled out so the fields come in the documented order, whatever the caller's order.
  return {
    time: fields.time ?? new Date().toISOString(),
    kind: 'decision',
    ...(fields.endpoint !== undefined && { endpoint: fields.endpoint }),
    ...(fields.family !== undefined && { family: fields.family }),
    ...(fields.stage !== undefined && { stage: fields.stage }),
    ...(fields.revision !== undefined && { revision: fields.revision }),
    request:
      request === null
        ? null
        : fields.logArguments === true
          ? withRedactedArguments(request, fields.redactArguments ?? [])
          : withoutArgumentValues(request),
    ...(read !== undefined && 'error' in read && { request_error: read.error }),
    decision: fields.decision,
    ...(fields.argumentPaths !== undefined &&
      fields.argumentPaths.length > 0 && { argument_paths: fields.argumentPaths }),
    ...(fields.latency_us !== undefined && { latency_us: fields.latency_us }),
    ...(fields.batch !== undefined && { batch: fields.batch }),
    ...(fields.shadow !== undefined && { shadow: fields.shadow }),
    ...(fields.pin !== undefined && { pin: fields.pin }),
  };
}

/** Builds an audit record from a posted event, read by the request boundary's rule. Never throws. */
export function auditRecord(endpoint: string, event: unknown, time?: string): AuditRecord {
  const read = readObjectValue(event, 'audit event');
  return {
    time: time ?? new Date().toISOString(),
    kind: 'audit',
    endpoint,
    event: 'request' in read ? read.request : null,
    ...('error' in read && { event_error: read.error }),
  };
}

/** Why a record was dropped. */
export type DropReason = 'queue_full' | 'unserialisable' | 'write_failed' | 'closed';

/** Every {@link DropReason}, in the order metrics list them. */
export const DROP_REASONS: readonly DropReason[] = ['queue_full', 'unserialisable', 'write_failed', 'closed'];

/** Counts of what a sink kept and lost. */
export interface SinkStats {
  /** Records that reached the destination. */
  readonly written: number;
  readonly dropped: Readonly<Record<DropReason, number>>;
}

/** Where decision records go. */
export interface DecisionLogSink {
  /** Takes a record; never throws and never waits. What cannot be kept is dropped and counted. */
  write(record: LogRecord): void;
  /** Writes what is queued and releases the destination, within a bounded time; later writes are dropped as `closed`. */
  close(): Promise<void>;
  stats(): SinkStats;
}

/** Options every queued sink takes. */
export interface SinkOptions {
  /** Records waiting to be written at most (default 10,000); beyond this they are dropped. */
  readonly maxQueue?: number;
  /** Serialised bytes waiting to be written at most (default 64 MiB). */
  readonly maxQueueBytes?: number;
  /** Longest `close()` waits for the destination (default 5 s); what is still queued then is dropped as `closed`. */
  readonly closeTimeoutMs?: number;
  /** Called for every drop. */
  readonly onDrop?: (reason: DropReason, count: number) => void;
  /** Called for every batch written. */
  readonly onWrite?: (count: number) => void;
  /** Told once per failure episode, e.g. to print a note. */
  readonly onError?: (error: Error) => void;
}

/** Options of a JSON Lines file sink. */
export interface FileSinkOptions extends SinkOptions {
  /** Size at which the file is rotated to `<path>.1` (default 64 MiB; older files shift up). */
  readonly maxBytes?: number;
  /** Rotated files kept besides the live one (default 3). */
  readonly keep?: number;
}

const DEFAULTS = {
  maxQueue: 10_000,
  maxQueueBytes: 64 * 1024 * 1024,
  closeTimeoutMs: 5_000,
  maxBytes: 64 * 1024 * 1024,
  keep: 3,
};

/** Bytes handed to the destination at once, so one huge batch does not become one huge string. */
const WRITE_CHUNK = 1024 * 1024;

function noDrops(): Record<DropReason, number> {
  return { queue_full: 0, unserialisable: 0, write_failed: 0, closed: 0 };
}

/**
 * One JSON line, or undefined when the value cannot be serialised (a cycle, a
 * BigInt, nesting too deep for the stack, a getter that throws).
 */
export function serialiseLine(value: unknown): string | undefined {
  try {
    const text = JSON.stringify(value);
    return typeof text === 'string' ? `${text}\n` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Settles with true when `work` settles within `ms`, false otherwise. The
 * timer keeps the process alive while it waits, so a deadline is never cut
 * short by an empty event loop.
 */
export async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Counts drops and writes the way every sink reports them. */
class Counters {
  written = 0;
  readonly dropped = noDrops();

  constructor(private readonly options: Pick<SinkOptions, 'onDrop' | 'onWrite'>) {}

  drop(reason: DropReason, count: number): void {
    if (count <= 0) return;
    this.dropped[reason] += count;
    try {
      this.options.onDrop?.(reason, count);
    } catch {
      // An observer's failure is not the log's.
    }
  }

  wrote(count: number): void {
    this.written += count;
    try {
      this.options.onWrite?.(count);
    } catch {
      // As above.
    }
  }

  stats(): SinkStats {
    return { written: this.written, dropped: { ...this.dropped } };
  }
}

/**
 * A bounded queue of serialised lines drained by one writer at a time.
 * Records are serialised when written (so the bound is in bytes as well as
 * records, and a record that cannot be serialised is counted at once);
 * subclasses say how lines reach their destination.
 */
abstract class QueuedSink implements DecisionLogSink {
  protected readonly counters: Counters;
  private queue: string[] = [];
  private queueBytes = 0;
  private inFlight = 0;
  private draining: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private closed = false;
  private abandoned = false;
  private readonly maxQueue: number;
  private readonly maxQueueBytes: number;
  private readonly closeTimeoutMs: number;

  constructor(protected readonly options: SinkOptions) {
    this.counters = new Counters(options);
    this.maxQueue = options.maxQueue ?? DEFAULTS.maxQueue;
    this.maxQueueBytes = options.maxQueueBytes ?? DEFAULTS.maxQueueBytes;
    this.closeTimeoutMs = options.closeTimeoutMs ?? DEFAULTS.closeTimeoutMs;
  }

  write(record: LogRecord): void {
    if (this.closed) return this.counters.drop('closed', 1);
    if (this.queue.length >= this.maxQueue) return this.counters.drop('queue_full', 1);
    const line = serialiseLine(record);
    if (line === undefined) return this.counters.drop('unserialisable', 1);
    if (this.queueBytes + line.length > this.maxQueueBytes && this.queue.length > 0) {
      return this.counters.drop('queue_full', 1);
    }
    this.queue.push(line);
    this.queueBytes += line.length;
    // Writing happens after the response is sent.
    this.draining ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.drain());
  }

  /** Takes up to {@link WRITE_CHUNK} bytes of lines (at least one) off the queue. */
  private take(): { text: string; count: number } {
    let end = 0;
    let size = 0;
    while (end < this.queue.length && (end === 0 || size + this.queue[end]!.length <= WRITE_CHUNK)) {
      size += this.queue[end]!.length;
      end++;
    }
    const lines = this.queue.splice(0, end);
    this.queueBytes -= size;
    return { text: lines.join(''), count: end };
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.abandoned) {
        const { text, count } = this.take();
        this.inFlight = count;
        let failed = false;
        try {
          await this.writeLines(text);
        } catch {
          failed = true;
        }
        // Abandoned at close: these were counted as dropped then.
        if (this.abandoned) return;
        this.inFlight = 0;
        if (failed) this.counters.drop('write_failed', count);
        else this.counters.wrote(count);
      }
    } finally {
      this.draining = undefined;
    }
  }

  /** Writes whole lines; throws when they could not be written. */
  protected abstract writeLines(text: string): Promise<void>;

  /** Releases the destination after the last batch. */
  protected abstract release(): Promise<void>;

  /** Gives up on a destination that did not take the last lines in time. */
  protected abstract abandon(): void;

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    const flushed = (async () => {
      while (this.draining) await this.draining;
    })();
    if (!(await settlesWithin(flushed, this.closeTimeoutMs))) {
      this.abandoned = true;
      this.counters.drop('closed', this.queue.length + this.inFlight);
      this.queue = [];
      this.queueBytes = 0;
      this.inFlight = 0;
      try {
        this.abandon();
      } catch {
        // Nothing more can be done for it.
      }
    }
    await settlesWithin(this.release(), this.closeTimeoutMs);
  }

  stats(): SinkStats {
    return this.counters.stats();
  }
}

/** The error of a decision-log path that is not a regular file of the user's own. */
function unsafe(path: string, what: string): McpPolicyError {
  return new McpPolicyError('unsafe_log_file', `decision log ${JSON.stringify(path)} ${what}`);
}

// O_NOFOLLOW refuses a symbolic link at the last component (ELOOP); O_NONBLOCK keeps the open of a
// FIFO from waiting for a reader (ENXIO). Neither exists on Windows, where they are 0.
const OPEN_FLAGS =
  fsConstants.O_WRONLY |
  fsConstants.O_APPEND |
  fsConstants.O_CREAT |
  (fsConstants.O_NOFOLLOW ?? 0) |
  (fsConstants.O_NONBLOCK ?? 0);

/**
 * Opens a log file for appending: created 0600 in a folder created 0700 when
 * missing; a symbolic link, anything but a regular file, or a file of another
 * user is refused (`unsafe_log_file`); an existing file with a wider mode is
 * set to 0600. Other failures are coded by {@link fileSystemError}.
 */
export async function openLogFile(path: string): Promise<{ handle: FileHandle; size: number }> {
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    // Looked at before opening, so a device or FIFO is never opened at all.
    const before = await lstat(path).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (before?.isSymbolicLink()) throw unsafe(path, 'is a symbolic link');
    if (before !== undefined && !before.isFile()) throw unsafe(path, 'is not a regular file');
    const uid = process.getuid?.();
    if (before !== undefined && uid !== undefined && before.uid !== uid)
      throw unsafe(path, `belongs to another user (uid ${before.uid})`);
    let handle: FileHandle;
    try {
      handle = await open(path, OPEN_FLAGS, 0o600);
    } catch (e) {
      // Replaced between the look and the open.
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw unsafe(path, 'is a symbolic link');
      if (code === 'ENXIO') throw unsafe(path, 'is not a regular file');
      throw e;
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw unsafe(path, 'is not a regular file');
      if (uid !== undefined && info.uid !== uid) throw unsafe(path, `belongs to another user (uid ${info.uid})`);
      if ((info.mode & 0o777) !== 0o600) await handle.chmod(0o600);
      return { handle, size: info.size };
    } catch (e) {
      await handle.close().catch(() => undefined);
      throw e;
    }
  } catch (e) {
    throw fileSystemError(e, 'open the decision log', path);
  }
}

/**
 * JSON Lines in a file of the user's own, rotated by size. Open it with
 * {@link JsonlFileSink.open}, which refuses an unsafe path at once. A write
 * that fails (no space, permissions) drops that batch and closes the file;
 * the next batch reopens it by the same checks, so logging resumes by itself
 * when the disk has room again, and never through a link put there meanwhile.
 */
export class JsonlFileSink extends QueuedSink {
  private handle: FileHandle | undefined;
  private size = 0;
  private failing = false;
  private readonly maxBytes: number;
  private readonly keep: number;

  private constructor(
    readonly path: string,
    options: FileSinkOptions,
    opened: { handle: FileHandle; size: number },
  ) {
    super(options);
    this.maxBytes = options.maxBytes ?? DEFAULTS.maxBytes;
    this.keep = options.keep ?? DEFAULTS.keep;
    this.handle = opened.handle;
    this.size = opened.size;
  }

  /** Opens the file now; rejects with a coded error (`unsafe_log_file`, `permission_denied`, …) when it cannot be used. */
  static async open(path: string, options: FileSinkOptions = {}): Promise<JsonlFileSink> {
    return new JsonlFileSink(path, options, await openLogFile(path));
  }

  protected async writeLines(text: string): Promise<void> {
    const bytes = Buffer.from(text);
    try {
      if (this.handle && this.size > 0 && this.size + bytes.length > this.maxBytes) await this.rotate();
      if (!this.handle) ({ handle: this.handle, size: this.size } = await openLogFile(this.path));
      await this.handle.write(bytes);
      this.size += bytes.length;
      this.failing = false;
    } catch (e) {
      if (!this.failing) this.options.onError?.(e instanceof Error ? e : new Error(describeThrown(e)));
      this.failing = true;
      await this.handle?.close().catch(() => undefined);
      this.handle = undefined;
      throw e;
    }
  }

  private async rotate(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    // Renames move names, never what a link points to; the new file is opened by the same checks.
    if (this.keep === 0) await handle?.truncate(0);
    await handle?.close();
    for (let k = this.keep - 1; k >= 1; k--) {
      await rename(`${this.path}.${k}`, `${this.path}.${k + 1}`).catch(() => undefined);
    }
    if (this.keep > 0) await rename(this.path, `${this.path}.1`);
    this.size = 0;
  }

  protected async release(): Promise<void> {
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
  }

  protected abandon(): void {
    // A regular file's write cannot be cancelled; the handle is closed by release().
  }
}

/**
 * JSON Lines on a stream such as standard output (`--decision-log -`). A
 * stream error counts as a failed write and never reaches the process; a
 * stream that has not taken the last lines when `close()` times out (a pipe
 * nobody reads) is destroyed, so it cannot hold the process open.
 */
export class JsonlStreamSink extends QueuedSink {
  private failing = false;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    options: SinkOptions = {},
  ) {
    super(options);
    // Without a listener, EPIPE from a reader that went away would be an uncaught error.
    stream.on('error', (e: Error) => this.failed(e));
  }

  private failed(e: Error): void {
    if (!this.failing) this.options.onError?.(e);
    this.failing = true;
  }

  protected writeLines(text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      try {
        this.stream.write(text, (e) => {
          if (e) {
            this.failed(e);
            reject(e);
          } else {
            this.failing = false;
            resolve();
          }
        });
      } catch (e) {
        reject(e as Error);
      }
    });
  }

  protected release(): Promise<void> {
    return Promise.resolve();
  }

  protected abandon(): void {
    const s = this.stream as NodeJS.WritableStream & { destroy?: () => void };
    s.destroy?.();
  }
}

/**
 * Sends every record to several sinks (a file and an uploader, say). Its
 * stats add up every sink's; a sink that throws although it must not counts
 * as a failed write; `close()` closes all of them within each one's bound.
 */
export class FanoutSink implements DecisionLogSink {
  private readonly own = new Counters({});

  constructor(
    private readonly sinks: readonly DecisionLogSink[],
    private readonly closeTimeoutMs = DEFAULTS.closeTimeoutMs,
  ) {}

  write(record: LogRecord): void {
    for (const s of this.sinks) {
      try {
        s.write(record);
      } catch {
        this.own.drop('write_failed', 1);
      }
    }
  }

  async close(): Promise<void> {
    // A sink of someone else's that ignores its own bound must not hold the others, or shutdown.
    await Promise.all(
      this.sinks.map((s) => {
        let closing: Promise<void>;
        try {
          closing = s.close();
        } catch {
          return Promise.resolve(true);
        }
        return settlesWithin(closing, this.closeTimeoutMs + 1_000);
      }),
    );
  }

  stats(): SinkStats {
    const dropped = noDrops();
    let written = 0;
    for (const st of [...this.sinks.map((s) => safeStats(s)), this.own.stats()]) {
      written += st.written;
      for (const r of DROP_REASONS) dropped[r] += st.dropped[r] ?? 0;
    }
    return { written, dropped };
  }
}

function safeStats(sink: DecisionLogSink): SinkStats {
  try {
    return sink.stats();
  } catch {
    return { written: 0, dropped: noDrops() };
  }
}

/** The sink used when no decision log is asked for. */
export const NULL_SINK: DecisionLogSink = {
  write: () => undefined,
  close: () => Promise.resolve(),
  stats: () => ({ written: 0, dropped: noDrops() }),
};

/** One sink for several: none is {@link NULL_SINK}, one is itself, more are a {@link FanoutSink}. */
export function combineSinks(sinks: readonly (DecisionLogSink | undefined)[]): DecisionLogSink {
  const present = sinks.filter((s): s is DecisionLogSink => s !== undefined && s !== NULL_SINK);
  if (present.length === 0) return NULL_SINK;
  if (present.length === 1) return present[0]!;
  return new FanoutSink(present);
}

/**
 * The sink of a `--decision-log` argument: `-` is standard output, anything
 * else a file opened now by {@link JsonlFileSink.open}'s checks.
 */
export async function openDecisionLog(path: string, options: FileSinkOptions = {}): Promise<DecisionLogSink> {
  return path === '-' ? new JsonlStreamSink(standardOutput(), options) : JsonlFileSink.open(path, options);
}

/**
 * Standard output as a stream the sink can give up on. On a pipe or socket,
 * a socket of its own on fd 1: destroying `process.stdout` does not close
 * its handle, and writes pending on a pipe nobody reads would keep the
 * process alive after shutdown. Files and terminals take writes at once.
 */
function standardOutput(): NodeJS.WritableStream {
  try {
    const info = fstatSync(1);
    if (info.isFIFO() || info.isSocket()) return new Socket({ fd: 1, readable: false, writable: true });
  } catch {
    // Not inspectable: the ordinary stream.
  }
  return process.stdout;
}
