/**
 * The decision log: JSON Lines written off the request path. A sink accepts
 * entries without blocking and without failing; whatever it cannot keep (a
 * full queue, a full disk, an unwritable file) is dropped and counted, never
 * turned into an error for the caller. The interface is small so other
 * transports (an OPA-format uploader, the MCP proxy) can reuse or add sinks.
 */
import { type FileHandle, mkdir, open, rename, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Why an entry was dropped. */
export type DropReason = 'queue_full' | 'write_failed' | 'closed';

/** Counts of what a sink kept and lost. */
export interface SinkStats {
  readonly written: number;
  readonly dropped: Readonly<Record<DropReason, number>>;
}

/** Where decision-log entries go. `write` never throws and never waits. */
export interface LogSink {
  /** Queues an entry; drops (and counts) it when it cannot be kept. */
  write(entry: object): void;
  /** Writes what is queued and releases the sink; later writes are dropped as `closed`. */
  close(): Promise<void>;
  stats(): SinkStats;
}

/** Options of {@link JsonlFileSink}. */
export interface JsonlFileSinkOptions {
  /** Entries waiting to be written at most; beyond this they are dropped. */
  readonly maxQueue?: number;
  /** Size at which the file is rotated to `<path>.1` (older files shift up). */
  readonly maxBytes?: number;
  /** Rotated files kept besides the live one. */
  readonly keep?: number;
  /** Called for every dropped entry (metrics). */
  readonly onDrop?: (reason: DropReason, count: number) => void;
  /** Called for every batch written (metrics). */
  readonly onWrite?: (count: number) => void;
  /** Told once per failure episode, e.g. to print a warning. */
  readonly onError?: (error: Error) => void;
}

const DEFAULTS = { maxQueue: 10_000, maxBytes: 64 * 1024 * 1024, keep: 3 };

/** Counts drops and writes the way every sink reports them. */
class Counters {
  written = 0;
  readonly dropped: Record<DropReason, number> = { queue_full: 0, write_failed: 0, closed: 0 };

  constructor(private readonly options: Pick<JsonlFileSinkOptions, 'onDrop' | 'onWrite'>) {}

  drop(reason: DropReason, count: number): void {
    if (count <= 0) return;
    this.dropped[reason] += count;
    this.options.onDrop?.(reason, count);
  }

  wrote(count: number): void {
    this.written += count;
    this.options.onWrite?.(count);
  }

  stats(): SinkStats {
    return { written: this.written, dropped: { ...this.dropped } };
  }
}

/**
 * A bounded queue drained by one writer at a time. Subclasses say how a
 * batch of lines reaches its destination.
 */
abstract class QueuedSink implements LogSink {
  protected readonly counters: Counters;
  private queue: object[] = [];
  private draining: Promise<void> | undefined;
  private closed = false;
  private readonly maxQueue: number;

  constructor(options: JsonlFileSinkOptions) {
    this.counters = new Counters(options);
    this.maxQueue = options.maxQueue ?? DEFAULTS.maxQueue;
  }

  write(entry: object): void {
    if (this.closed) return this.counters.drop('closed', 1);
    if (this.queue.length >= this.maxQueue) return this.counters.drop('queue_full', 1);
    this.queue.push(entry);
    // Serialising and writing happen after the response is sent.
    this.draining ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.drain());
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      let text = '';
      for (const entry of batch) text += `${JSON.stringify(entry)}\n`;
      try {
        await this.writeLines(text, batch.length);
        this.counters.wrote(batch.length);
      } catch {
        this.counters.drop('write_failed', batch.length);
      }
    }
    this.draining = undefined;
  }

  /** Writes whole lines; throws when they could not be written. */
  protected abstract writeLines(text: string, count: number): Promise<void>;

  /** Releases the destination after the last batch. */
  protected abstract release(): Promise<void>;

  async close(): Promise<void> {
    this.closed = true;
    while (this.draining) await this.draining;
    await this.release();
  }

  stats(): SinkStats {
    return this.counters.stats();
  }
}

/**
 * JSON Lines in a file, rotated by size. A write that fails (no space, file
 * removed, permissions) drops that batch and closes the file; the next batch
 * reopens it, so logging resumes by itself when the disk has room again.
 */
export class JsonlFileSink extends QueuedSink {
  private handle: FileHandle | undefined;
  private size = 0;
  private failing = false;
  private readonly maxBytes: number;
  private readonly keep: number;

  constructor(
    readonly path: string,
    private readonly options: JsonlFileSinkOptions = {},
  ) {
    super(options);
    this.maxBytes = options.maxBytes ?? DEFAULTS.maxBytes;
    this.keep = options.keep ?? DEFAULTS.keep;
  }

  protected async writeLines(text: string): Promise<void> {
    const bytes = Buffer.from(text);
    try {
      if (this.handle && this.size > 0 && this.size + bytes.length > this.maxBytes) await this.rotate();
      if (!this.handle) {
        await mkdir(dirname(this.path), { recursive: true });
        this.handle = await open(this.path, 'a', 0o600);
        this.size = (await stat(this.path)).size;
      }
      await this.handle.write(bytes);
      this.size += bytes.length;
      this.failing = false;
    } catch (e) {
      if (!this.failing) this.options.onError?.(e as Error);
      this.failing = true;
      await this.handle?.close().catch(() => undefined);
      this.handle = undefined;
      throw e;
    }
  }

  private async rotate(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
    for (let k = this.keep - 1; k >= 1; k--) {
      await rename(`${this.path}.${k}`, `${this.path}.${k + 1}`).catch(() => undefined);
    }
    if (this.keep > 0) await rename(this.path, `${this.path}.1`);
    else await open(this.path, 'w').then((h) => h.close());
    this.size = 0;
  }

  protected async release(): Promise<void> {
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
  }
}

/** JSON Lines on a stream such as standard output (`--decision-log -`). */
export class JsonlStreamSink extends QueuedSink {
  constructor(
    private readonly stream: NodeJS.WritableStream,
    options: JsonlFileSinkOptions = {},
  ) {
    super(options);
  }

  protected writeLines(text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.stream.write(text, (e) => (e ? reject(e) : resolve()));
    });
  }

  protected release(): Promise<void> {
    return Promise.resolve();
  }
}

/** Sends every entry to several sinks (a local file and an uploader, say). */
export class FanoutSink implements LogSink {
  constructor(private readonly sinks: readonly LogSink[]) {}

  write(entry: object): void {
    for (const s of this.sinks) s.write(entry);
  }

  async close(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.close()));
  }

  stats(): SinkStats {
    const dropped: Record<DropReason, number> = { queue_full: 0, write_failed: 0, closed: 0 };
    let written = 0;
    for (const s of this.sinks) {
      const st = s.stats();
      written += st.written;
      for (const r of Object.keys(dropped) as DropReason[]) dropped[r] += st.dropped[r];
    }
    return { written, dropped };
  }
}

/** The sink used when no decision log is asked for. */
export const NULL_SINK: LogSink = {
  write: () => undefined,
  close: () => Promise.resolve(),
  stats: () => ({ written: 0, dropped: { queue_full: 0, write_failed: 0, closed: 0 } }),
};
