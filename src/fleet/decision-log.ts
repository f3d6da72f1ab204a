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
import { McpPolicyError } from '../errors.js';

/** One decision as a host records it. */
export interface DecisionLogEntry {
  /** Rule path asked, e.g. `mcp_policy/decision`. */
  readonly path: string;
  readonly input: unknown;
  readonly result: unknown;
  /** Default: a fresh UUID. */
  readonly decisionId?: string;
  /** Default: now. */
  readonly timestamp?: Date;
  /** Bundle name and revision that decided, when known. */
  readonly bundle?: { readonly name: string; readonly revision: string };
  /** Client address, when the decision was asked over a network. */
  readonly requestedBy?: string;
  /** Evaluation time in nanoseconds, when measured (OPA's `timer_rego_query_eval_ns`). */
  readonly evalNs?: number;
}

/** Where decision logs go; the decision service writes each decision to one. */
export interface DecisionLogSink {
  /** Records one decision; never throws and never waits on the network. */
  write(entry: DecisionLogEntry): void;
  /** Sends what is buffered and stops. */
  close(): Promise<void>;
}

/** One event in OPA's decision-log format. */
export interface OpaDecisionEvent {
  labels: Record<string, string>;
  decision_id: string;
  path: string;
  input: unknown;
  result: unknown;
  timestamp: string;
  bundles?: Record<string, { revision: string }>;
  requested_by?: string;
  metrics?: Record<string, number>;
}

/** Maps a recorded decision to OPA's event shape (docs/fleet.md lists the mapping). */
export function toOpaEvent(entry: DecisionLogEntry, labels: Record<string, string>): OpaDecisionEvent {
  const event: OpaDecisionEvent = {
    labels,
    decision_id: entry.decisionId ?? randomUUID(),
    path: entry.path,
    input: entry.input,
    result: entry.result,
    timestamp: (entry.timestamp ?? new Date()).toISOString(),
  };
  if (entry.bundle) event.bundles = { [entry.bundle.name]: { revision: entry.bundle.revision } };
  if (entry.requestedBy !== undefined) event.requested_by = entry.requestedBy;
  if (entry.evalNs !== undefined) event.metrics = { timer_rego_query_eval_ns: entry.evalNs };
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
  /** Extra request headers (e.g. authorization). */
  readonly headers?: Record<string, string>;
}

/** Counters, for metrics and tests. */
export interface UploaderStats {
  uploadedEvents: number;
  uploads: number;
  failedUploads: number;
  droppedEvents: number;
  buffered: number;
}

/** A {@link DecisionLogSink} that uploads to an OPA decision-log collector. */
export class OpaDecisionLogUploader implements DecisionLogSink {
  private readonly endpoint: string;
  private readonly labels: Record<string, string>;
  private readonly buffer: string[] = [];
  private readonly timer: NodeJS.Timeout;
  private sending: Promise<void> | undefined;
  private backoffUntil = 0;
  private failures = 0;
  private closed = false;
  readonly stats: UploaderStats = { uploadedEvents: 0, uploads: 0, failedUploads: 0, droppedEvents: 0, buffered: 0 };

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

  write(entry: DecisionLogEntry): void {
    if (this.closed) return;
    let text: string;
    try {
      text = JSON.stringify(toOpaEvent(entry, this.labels));
    } catch {
      this.stats.droppedEvents++;
      return;
    }
    this.buffer.push(text);
    const max = this.options.maxBufferedEvents ?? 10_000;
    if (this.buffer.length > max) {
      this.stats.droppedEvents += this.buffer.length - max;
      this.buffer.splice(0, this.buffer.length - max);
    }
    this.stats.buffered = this.buffer.length;
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
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (!res.ok) throw new Error(`collector answered ${res.status}`);
      } catch {
        this.stats.failedUploads++;
        this.failures++;
        this.backoffUntil = Date.now() + Math.min(60_000, 250 * 2 ** Math.min(this.failures, 8));
        return;
      }
      // Only acknowledged events leave the buffer; anything written meanwhile stays behind them.
      this.buffer.splice(0, count);
      this.failures = 0;
      this.stats.uploads++;
      this.stats.uploadedEvents += count;
      this.stats.buffered = this.buffer.length;
    }
  }

  /** Stops the timer and makes a last attempt (ignoring backoff) to upload what is buffered. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.sending;
    await this.flush(true);
  }
}
