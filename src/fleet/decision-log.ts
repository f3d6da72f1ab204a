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

/**
 * A decision as the decision service's log records it (one JSON Lines entry):
 * read structurally, so the uploader can be given the service's entries as
 * they are. Entries of another `kind` (audit events) are not decisions and
 * are skipped: OPA's decision log has no place for them.
 */
export interface ServiceLogEntry {
  readonly kind: string;
  readonly time?: string;
  readonly endpoint?: string;
  readonly revision?: string | null;
  readonly request?: unknown;
  readonly decision?: unknown;
  readonly latency_us?: number;
}

/** Why events were not uploaded, counted. */
export interface DroppedCounts {
  /** Past the buffer bound (oldest first). */
  queue_full: number;
  /** Not serialisable as JSON. */
  write_failed: number;
  /** Written after close. */
  closed: number;
}

/** What an uploader kept and lost. */
export interface UploaderStats {
  /** Events a collector acknowledged. */
  readonly written: number;
  readonly dropped: Readonly<DroppedCounts>;
  readonly uploads: number;
  readonly failedUploads: number;
  /** Events waiting for an upload. */
  readonly buffered: number;
  /** Service entries that are not decisions (audit events). */
  readonly skipped: number;
}

/** Where decision logs go; the decision service writes each decision to one. */
export interface DecisionLogSink {
  /** Records one decision; never throws and never waits on the network. */
  write(entry: DecisionLogEntry | ServiceLogEntry): void;
  /** Sends what is buffered and stops. */
  close(): Promise<void>;
  stats(): UploaderStats;
}

/** The decision entry of a service log entry, or undefined for entries that are not decisions. */
export function fromServiceEntry(entry: ServiceLogEntry, bundleName: string): DecisionLogEntry | undefined {
  if (entry.kind !== 'decision') return undefined;
  const at = entry.time === undefined ? undefined : new Date(entry.time);
  return {
    path: DECISION_PATH,
    input: entry.request ?? null,
    result: entry.decision ?? null,
    ...(at !== undefined && !Number.isNaN(at.getTime()) && { timestamp: at }),
    ...(typeof entry.revision === 'string' && { bundle: { name: bundleName, revision: entry.revision } }),
    ...(typeof entry.latency_us === 'number' && { evalNs: Math.round(entry.latency_us * 1000) }),
  };
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
  /** Bundle name for service entries' revisions (default `mcp-policy`). */
  readonly bundleName?: string;
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
  private readonly counts = { written: 0, uploads: 0, failedUploads: 0, skipped: 0 };
  private readonly dropped: DroppedCounts = { queue_full: 0, write_failed: 0, closed: 0 };

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

  write(entry: DecisionLogEntry | ServiceLogEntry): void {
    if (this.closed) {
      this.dropped.closed++;
      return;
    }
    const decision = 'kind' in entry ? fromServiceEntry(entry, this.options.bundleName ?? 'mcp-policy') : entry;
    if (decision === undefined) {
      this.counts.skipped++;
      return;
    }
    let text: string;
    try {
      text = JSON.stringify(toOpaEvent(decision, this.labels));
    } catch {
      this.dropped.write_failed++;
      return;
    }
    this.buffer.push(text);
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
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
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

  /** Stops the timer and makes a last attempt (ignoring backoff) to upload what is buffered. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.sending;
    await this.flush(true);
  }
}
