/**
 * Deciding for the HTTP endpoints: the active bundle answers, the shadow
 * candidate (if any) answers too and differences are recorded, and every
 * decision is counted and logged after the fact. Nothing here can fail a
 * request: the log and metrics only observe.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { type Decision, failedDecision } from '../policy/model.js';
import { type BundleSlot, type LoadedBundle, NO_BUNDLE_ERROR } from './active-bundle.js';
import { auditRecord, decisionRecord, type DecisionLogSink, NULL_SINK } from '../host/decision-log.js';
import { type ServeMetrics } from './metrics.js';
import { requestWork } from '../engines/wasm-cost.js';
import { decidingPaths } from '../host/policy-profile.js';

/** A request to decide, or the denial it already earned at the protocol boundary. */
export type PlainItem = { readonly request: unknown } | { readonly denial: Decision };

/**
 * An item of a protocol whose request depends on the policy version it is
 * decided by (AuthZEN's mapping): each bundle, the active one and the shadow,
 * decides the item mapped for its own version.
 */
export interface VersionedItem {
  readonly byVersion: Readonly<Record<1 | 2, PlainItem>>;
}

/** What an endpoint asks the {@link Decider} to decide. */
export type Item = PlainItem | VersionedItem;

/** The item a bundle decides (a slot without a bundle fails closed whatever it is given). */
function forBundle(item: Item, bundle: LoadedBundle | undefined): PlainItem {
  return 'byVersion' in item ? item.byVersion[bundle?.policyVersion ?? 1] : item;
}

/** What the item's request (of either version) costs at `each` rule checks a short request ({@link requestWork}); 0 for a denial. */
function itemWork(item: Item, each: number, weight: number, cutsMany: boolean): number {
  const plain = 'byVersion' in item ? [item.byVersion[1], item.byVersion[2]] : [item];
  return Math.max(0, ...plain.map((p) => ('request' in p ? requestWork(p.request, each, weight, cutsMany) : 0)));
}

/**
 * How long deciding one HTTP request may hold the event loop before other
 * requests get a turn. One decision is never cut (a WebAssembly call cannot
 * be), so the turn comes between items.
 */
export const SLICE_MS = 10;

/** Bounds on deciding work, in rule checks ({@link LoadedBundle.requestCost} per request). */
export interface WorkLimits {
  /** Most work one HTTP request may ask for (413 `work_too_large` beyond); one request alone is always decided. */
  readonly maxWork: number;
  /** Most work admitted and not yet decided, across requests (429 `server_busy` beyond). */
  readonly maxPendingWork: number;
  /**
   * Most work one item may ask for, unless it has short fields (413
   * `work_too_large` beyond): one decision is never cut into slices, so this
   * bounds how long an item holds the event loop.
   */
  readonly maxItemWork?: number;
}

/** A request refused before any decision, because of the work it asks for. */
export class WorkRefused extends Error {
  constructor(
    readonly status: 413 | 429,
    readonly code: 'work_too_large' | 'server_busy',
    message: string,
  ) {
    super(message);
  }
}

function decideWith(bundle: LoadedBundle | undefined, item: Item): Decision {
  const plain = forBundle(item, bundle);
  if ('denial' in plain) return plain.denial;
  if (bundle === undefined) return failedDecision(NO_BUNDLE_ERROR);
  return bundle.engine.decideSync(plain.request);
}

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

/** The protocol an endpoint speaks, as logs and metrics label it. */
export function endpointFamily(endpoint: string): 'docker' | 'opa' | 'authzen' {
  if (endpoint.startsWith('/access/')) return 'authzen';
  return endpoint.startsWith('/v1/') ? 'opa' : 'docker';
}

function result(d: Decision): 'allowed' | 'denied' | 'error' {
  if (d.error !== undefined) return 'error';
  return d.allowed ? 'allowed' : 'denied';
}

/** Decides through a bundle slot, with an optional shadow, a log and metrics. */
export class Decider {
  constructor(
    private readonly primary: BundleSlot,
    private readonly sink: DecisionLogSink,
    private readonly metrics: ServeMetrics,
    private readonly shadow?: BundleSlot,
    /** Keep argument values in decision records (by default, only their JSON types). */
    private readonly logArguments = false,
  ) {}

  /** Work admitted and not yet decided, in rule checks. */
  private pending = 0;

  /** What one request with short fields costs, in rule checks, on the active bundle and the shadow. */
  private perRequest(): number {
    return (this.primary.current?.requestCost ?? 0) + (this.shadow?.current?.requestCost ?? 0);
  }

  /**
   * What deciding `items` costs, in rule checks: each request (not the items
   * already denied) at its bundle's bound, on the shadow too, times what its
   * longest field adds ({@link requestWork}; for a versioned item, the
   * larger of its two requests'). A slot without a bundle decides for free.
   */
  cost(items: readonly Item[]): { total: number; largest: number; at: number } {
    const each = this.perRequest();
    const weight = Math.max(this.primary.current?.patternWeight ?? 1, this.shadow?.current?.patternWeight ?? 1);
    const cutsMany = this.primary.current?.cutsManyValues === true || this.shadow?.current?.cutsManyValues === true;
    let total = 0;
    let largest = 0;
    let at = 0;
    items.forEach((item, k) => {
      const cost = itemWork(item, each, weight, cutsMany);
      if (cost === 0) return;
      total += cost;
      if (cost > largest) [largest, at] = [cost, k];
    });
    return { total, largest, at };
  }

  /**
   * Decides items in order (one HTTP request's worth), one decision each,
   * with the bundles active when it starts. Other requests get a turn every
   * {@link SLICE_MS}. With `limits`, work beyond one short request's is
   * refused ({@link WorkRefused}) before any decision when it is past
   * `maxWork`, or when the work already admitted leaves no room for it; one
   * request with short fields is always decided. With `stop`, deciding ends
   * after the first decision it holds for (the answer is that shorter list;
   * the work is priced for all items).
   */
  async decide(
    endpoint: string,
    items: readonly Item[],
    limits?: WorkLimits,
    stop?: (decision: Decision) => boolean,
  ): Promise<Decision[]> {
    const { total: cost, largest, at } = this.cost(items);
    const short = this.perRequest();
    if (limits !== undefined && cost > short) {
      if (largest > Math.max(limits.maxItemWork ?? Infinity, short)) {
        this.metrics.workRefused.inc({ code: 'work_too_large' });
        throw new WorkRefused(
          413,
          'work_too_large',
          `${items.length > 1 ? `request ${at} of the batch` : 'request'} needs about ${largest} rule checks on this policy (its fields are long); the limit for one request is ${limits.maxItemWork}`,
        );
      }
      if (cost > limits.maxWork) {
        this.metrics.workRefused.inc({ code: 'work_too_large' });
        throw new WorkRefused(
          413,
          'work_too_large',
          `${items.length > 1 ? `batch of ${items.length} requests` : 'request'} needs about ${cost} rule checks on this policy; the limit is ${limits.maxWork}`,
        );
      }
      if (this.pending > 0 && this.pending + cost > limits.maxPendingWork) {
        this.metrics.workRefused.inc({ code: 'server_busy' });
        throw new WorkRefused(429, 'server_busy', 'too many requests are being decided; retry later');
      }
    }
    this.pending += cost;
    this.metrics.workPending.set(this.pending);
    try {
      return await this.decideAdmitted(endpoint, items, stop);
    } finally {
      this.pending -= cost;
      this.metrics.workPending.set(this.pending);
    }
  }

  private async decideAdmitted(
    endpoint: string,
    items: readonly Item[],
    stop?: (decision: Decision) => boolean,
  ): Promise<Decision[]> {
    const started = process.hrtime.bigint();
    const primary = this.primary.current;
    const shadowBundle = this.shadow?.current;
    const decisions: Decision[] = [];
    const theirs: Decision[] = [];
    let slice = performance.now();
    for (let k = 0; k < items.length; k++) {
      const item = items[k] as Item;
      decisions.push(decideWith(primary, item));
      if (this.shadow) theirs.push(decideWith(shadowBundle, item));
      if (stop?.(decisions[k] as Decision)) break;
      if (k + 1 < items.length && performance.now() - slice >= SLICE_MS) {
        await nextTurn();
        slice = performance.now();
      }
    }
    const revision = primary?.revision;
    const shadow = this.shadow ? { decisions: theirs, revision: shadowBundle?.revision } : undefined;
    const elapsed = process.hrtime.bigint() - started;
    this.metrics.latency.observe({ endpoint }, Number(elapsed) / 1e9);
    const time = new Date().toISOString();
    const latency = Number(elapsed / 1000n);
    const family = endpointFamily(endpoint);
    decisions.forEach((decision, k) => {
      this.metrics.decisions.inc({ endpoint, result: result(decision) });
      this.metrics.familyDecisions.inc({ family, result: result(decision) });
      const theirs = shadow?.decisions[k];
      const differs = theirs !== undefined && !sameDecision(decision, theirs);
      if (differs) this.metrics.shadowDifferences.inc();
      // Without a log, the record (a copy of the request) is not worth making.
      if (this.sink === NULL_SINK) return;
      const item = forBundle(items[k] as Item, primary);
      this.sink.write(
        decisionRecord({
          time,
          endpoint,
          family,
          revision: revision ?? null,
          request: 'request' in item ? item.request : undefined,
          decision,
          argumentPaths: decidingPaths(primary, decision),
          latency_us: latency,
          ...(items.length > 1 && { batch: { index: k, size: items.length } }),
          ...(differs && { shadow: this.shadowFields(shadow?.revision, theirs, shadowBundle) }),
          logArguments: this.logArguments,
        }),
      );
    });
    return decisions;
  }

  /** The record's `shadow` member: the candidate's decision and the argument paths of its deciding rule. */
  private shadowFields(revision: string | undefined, decision: Decision, bundle: LoadedBundle | undefined) {
    const paths = decidingPaths(bundle, decision);
    return { revision: revision ?? null, decision, ...(paths !== undefined && { argument_paths: paths }) };
  }

  /** Logs an audit event the gateway posted; never fails. */
  audit(event: Record<string, unknown>): void {
    const r = event.result;
    this.metrics.auditEvents.inc({ result: r === 'allowed' || r === 'denied' ? r : 'other' });
    if (this.sink !== NULL_SINK) this.sink.write(auditRecord('/mcp/audit', event));
  }
}
