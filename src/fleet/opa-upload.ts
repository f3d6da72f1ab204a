/**
 * Decision logs in OPA's upload format, so collectors built for OPA fleets
 * accept mcp-policy's decisions unchanged: events batched into a JSON array,
 * gzip-compressed, POSTed to `<service>/logs` with `Content-Encoding: gzip`.
 * An event stays buffered until a collector has acknowledged it (2xx);
 * failed uploads are retried with backoff. The buffer is bounded: past it the
 * oldest events are dropped and counted, never the process's memory.
 */
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { McpPolicyError } from '../core/errors.js';
import {
  type DecisionLogSink,
  type DecisionRecord,
  type DropReason,
  type LogRecord,
  serialiseLine,
  settlesWithin,
  type SinkStats,
} from '../host/decision-log.js';

/** What an uploader kept and lost. */
export interface UploaderStats extends SinkStats {
  readonly uploads: number;
  readonly failedUploads: number;
  /** Events waiting for an upload. */
  readonly buffered: number;
  /** Records that are not decisions (audit events). */
  readonly skipped: number;
}

/** The rule path of mcp-policy's decision entry point, as OPA writes `path`. */
const DECISION_PATH = 'mcp_policy/decision';

/** One event in OPA's decision-log format. */
export interface OpaDecisionEvent {
  labels: Record<string, string>;
  decision_id: string;
  path: string;
  input: unknown;
  result: unknown;
  timestamp: string;
  bundles?: Record<string, { revision: string }>;
  metrics?: Record<string, number>;
}

/** Maps a decision record to OPA's event shape (docs/fleet.md lists the mapping). */
export function toOpaEvent(
  record: DecisionRecord,
  labels: Record<string, string>,
  bundleName = 'mcp-policy',
): OpaDecisionEvent {
  const at = new Date(record.time);
  const event: OpaDecisionEvent = {
    labels,
    decision_id: randomUUID(),
    path: DECISION_PATH,
    input: record.request,
    result: record.decision,
    timestamp: (Number.isNaN(at.getTime()) ? new Date() : at).toISOString(),
  };
  if (typeof record.revision === 'string') event.bundles = { [bundleName]: { revision: record.revision } };
  if (typeof record.latency_us === 'number') {
    event.metrics = { timer_rego_query_eval_ns: Math.round(record.latency_us * 1000) };
  }
  return event;
}

/** Options of {@link OpaDecisionLogUploader}. */
export interface UploaderOptions {
  /** Service base URL; events go to `<url><resource>`. */
  readonly url: string;
  /** Default `/logs`, as OPA. */
  readonly resource?: string;
  /** `labels` of every event (OPA sets `id` and `version`); `id` defaults to a fresh UUID. */
  readonly labels?: Record<string, string>;
  /** Largest uncompressed batch, in bytes (default 512 KiB); a single larger event is sent alone. */
  readonly maxBatchBytes?: number;
  /** Most events held while the collector is unreachable (default 10,000); older ones are dropped. */
  readonly maxBufferedEvents?: number;
  /** Upload period (default 5 s). */
  readonly flushIntervalMs?: number;
  /** Timeout of one upload (default 10 s). */
  readonly timeoutMs?: number;
  /** Longest `close()` spends on its last upload (default 5 s); what is not acknowledged by then stays buffered. */
  readonly closeTimeoutMs?: number;
  /** Extra request headers (e.g. authorization). */
  readonly headers?: Record<string, string>;
  /** Bundle name for service entries' revisions (default `mcp-policy`). */
  readonly bundleName?: string;
}

/** A {@link DecisionLogSink} that uploads decision records to an OPA decision-log collector. */
export class OpaDecisionLogUploader implements DecisionLogSink {
  private readonly endpoint: string;
  private readonly labels: Record<string, string>;
  private readonly buffer: string[] = [];
  private readonly timer: NodeJS.Timeout;
  private sending: Promise<void> | undefined;
  private backoffUntil = 0;
  private failures = 0;
  private closed = false;
  private readonly counts = { written: 0, uploads: 0, failedUploads: 0, skipped: 0 };
  private readonly dropped: Record<DropReason, number> = {
    queue_full: 0,
    unserialisable: 0,
    write_failed: 0,
    closed: 0,
  };
  /** Aborts the upload in flight when `close()` runs out of time. */
  private readonly abort = new AbortController();

  constructor(private readonly options: UploaderOptions) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch {
      throw new McpPolicyError('usage', `decision log url ${JSON.stringify(options.url)} is not a url`);
    }
    this.endpoint = `${base.href.replace(/\/$/, '')}${options.resource ?? '/logs'}`;
    this.labels = { id: randomUUID(), version: 'mcp-policy', ...options.labels };
    this.timer = setInterval(() => void this.flush().catch(() => undefined), options.flushIntervalMs ?? 5000);
    this.timer.unref();
  }

  write(record: LogRecord): void {
    if (this.closed) {
      this.dropped.closed++;
      return;
    }
    if (record.kind !== 'decision') {
      this.counts.skipped++;
      return;
    }
    let line: string | undefined;
    try {
      line = serialiseLine(toOpaEvent(record, this.labels, this.options.bundleName));
    } catch {
      line = undefined;
    }
    if (line === undefined) {
      this.dropped.unserialisable++;
      return;
    }
    this.buffer.push(line.slice(0, -1));
    const max = this.options.maxBufferedEvents ?? 10_000;
    if (this.buffer.length > max) {
      this.dropped.queue_full += this.buffer.length - max;
      this.buffer.splice(0, this.buffer.length - max);
    }
  }

  stats(): UploaderStats {
    return { ...this.counts, dropped: { ...this.dropped }, buffered: this.buffer.length };
  }

  /**
   * Uploads everything buffered now, one batch after another; resolves when
   * done or when an upload fails. `force` ignores the backoff after a failure.
   */
  flush(force = false): Promise<void> {
    if (force) this.backoffUntil = 0;
    this.sending ??= this.drain().finally(() => {
      this.sending = undefined;
    });
    return this.sending;
  }

  private async drain(): Promise<void> {
    if (Date.now() < this.backoffUntil) return;
    const limit = this.options.maxBatchBytes ?? 512 * 1024;
    while (this.buffer.length > 0) {
      let size = 2;
      let count = 0;
      while (count < this.buffer.length && (count === 0 || size + this.buffer[count]!.length + 1 <= limit)) {
        size += this.buffer[count]!.length + 1;
        count++;
      }
      const body = gzipSync(`[${this.buffer.slice(0, count).join(',')}]`);
      try {
        const res = await fetch(this.endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', ...this.options.headers },
          body,
          signal: AbortSignal.any([AbortSignal.timeout(this.options.timeoutMs ?? 10_000), this.abort.signal]),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (!res.ok) throw new Error(`collector answered ${res.status}`);
      } catch {
        this.counts.failedUploads++;
        this.failures++;
        this.backoffUntil = Date.now() + Math.min(60_000, 250 * 2 ** Math.min(this.failures, 8));
        return;
      }
      // Only acknowledged events leave the buffer; anything written meanwhile stays behind them.
      this.buffer.splice(0, count);
      this.failures = 0;
      this.counts.uploads++;
      this.counts.written += count;
    }
  }

  /**
   * Stops the timer and makes a last attempt (ignoring backoff) to upload what
   * is buffered, for at most `closeTimeoutMs`: a collector that does not
   * answer cannot hold shutdown.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const last = (async () => {
      await this.sending;
      await this.flush(true);
    })();
    if (!(await settlesWithin(last, this.options.closeTimeoutMs ?? 5_000))) {
      this.abort.abort();
      await last.catch(() => undefined);
    }
  }
}
