/**
 * Deciding for the HTTP endpoints: the active bundle answers, the shadow
 * candidate (if any) answers too and differences are recorded, and every
 * decision is counted and logged after the fact. Nothing here can fail a
 * request: the log and metrics only observe.
 */
import { type Decision } from '../policy/model.js';
import { type BundleSlot } from './active-bundle.js';
import { type LogSink } from './decision-log.js';
import { type ServeMetrics } from './metrics.js';

/** A decision-log entry for one decision (docs/serve.md lists the fields). */
export interface DecisionEntry {
  readonly time: string;
  readonly kind: 'decision';
  readonly endpoint: string;
  readonly revision: string | null;
  readonly request: unknown;
  readonly decision: Decision;
  readonly latency_us: number;
  readonly batch?: { readonly index: number; readonly size: number };
  readonly shadow?: { readonly revision: string | null; readonly decision: Decision };
}

/** A request to decide, or the denial it already earned at the protocol boundary. */
export type Item = { readonly request: unknown } | { readonly denial: Decision };

function sameDecision(a: Decision, b: Decision): boolean {
  return (
    a.allowed === b.allowed &&
    a.reason === b.reason &&
    a.rule === b.rule &&
    a.error === b.error &&
    a.directive === b.directive &&
    a.warning === b.warning
  );
}

function result(d: Decision): 'allowed' | 'denied' | 'error' {
  if (d.error !== undefined) return 'error';
  return d.allowed ? 'allowed' : 'denied';
}

/** Decides through a bundle slot, with an optional shadow, a log and metrics. */
export class Decider {
  constructor(
    private readonly primary: BundleSlot,
    private readonly sink: LogSink,
    private readonly metrics: ServeMetrics,
    private readonly shadow?: BundleSlot,
  ) {}

  /** Decides items in order (one HTTP request's worth), one decision each. */
  decide(endpoint: string, items: readonly Item[]): Decision[] {
    const started = process.hrtime.bigint();
    const { decisions, revision } = this.run(this.primary, items);
    const elapsed = process.hrtime.bigint() - started;
    const shadow = this.shadow ? this.run(this.shadow, items) : undefined;
    this.metrics.latency.observe({ endpoint }, Number(elapsed) / 1e9);
    const time = new Date().toISOString();
    const latency = Number(elapsed / 1000n);
    decisions.forEach((decision, k) => {
      this.metrics.decisions.inc({ endpoint, result: result(decision) });
      const theirs = shadow?.decisions[k];
      const differs = theirs !== undefined && !sameDecision(decision, theirs);
      if (differs) this.metrics.shadowDifferences.inc();
      const item = items[k] as Item;
      const entry: DecisionEntry = {
        time,
        kind: 'decision',
        endpoint,
        revision: revision ?? null,
        request: 'request' in item ? item.request : null,
        decision,
        latency_us: latency,
        ...(items.length > 1 && { batch: { index: k, size: items.length } }),
        ...(differs && { shadow: { revision: shadow?.revision ?? null, decision: theirs } }),
      };
      this.sink.write(entry);
    });
    return decisions;
  }

  private run(slot: BundleSlot, items: readonly Item[]): { decisions: Decision[]; revision: string | undefined } {
    if (items.length === 1) {
      const only = items[0] as Item;
      if ('denial' in only) return { decisions: [only.denial], revision: slot.current?.revision };
      const { decision, revision } = slot.decide(only.request);
      return { decisions: [decision], revision };
    }
    const requests: unknown[] = [];
    for (const item of items) if ('request' in item) requests.push(item.request);
    const { decisions: decided, revision } = slot.decideBatch(requests);
    let next = 0;
    const decisions = items.map((item) => ('denial' in item ? item.denial : (decided[next++] as Decision)));
    return { decisions, revision };
  }

  /** Logs an audit event the gateway posted; never fails. */
  audit(event: Record<string, unknown>): void {
    const r = event.result;
    this.metrics.auditEvents.inc({ result: r === 'allowed' || r === 'denied' ? r : 'other' });
    this.sink.write({ time: new Date().toISOString(), kind: 'audit', endpoint: '/mcp/audit', event });
  }
}
