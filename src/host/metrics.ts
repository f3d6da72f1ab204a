/**
 * What the Prometheus metrics of every front end share (prom-client): a
 * registry per service, so several services in one process (tests, workers)
 * never share counters; the decision log's counts; refused authentications.
 * Metric names that mean the same thing in `serve` and the proxy are the same.
 */
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import { type AuthFailureCode } from './auth.js';
import { DROP_REASONS, type SinkStats } from './decision-log.js';

/** Every code a refused authentication can have, so a counter can show each at 0 before the first refusal. */
export const AUTH_FAILURE_CODES: readonly AuthFailureCode[] = Object.keys({
  missing_token: true,
  invalid_auth_header: true,
  invalid_token: true,
  insufficient_scope: true,
  auth_unavailable: true,
} satisfies Record<AuthFailureCode, true>) as AuthFailureCode[];

/** A registry of its own, with prom-client's default process metrics unless `processMetrics` is false. */
export function metricsRegistry(options: { readonly processMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * The decision log's written and dropped records. The sink counts them
 * itself; they are read when metrics are collected, so every sink of a
 * fan-out is in them and nothing is counted twice.
 */
export class DecisionLogMetrics {
  private stats: () => SinkStats | undefined = () => undefined;
  readonly written: Counter;
  readonly dropped: Counter<'reason'>;

  constructor(registry: Registry) {
    const written: Counter = new Counter({
      name: 'mcp_policy_decision_log_written_total',
      help: 'Decision-log records written, by every sink.',
      registers: [registry],
      collect: () => {
        written.reset();
        written.inc(this.stats()?.written ?? 0);
      },
    });
    const dropped: Counter<'reason'> = new Counter({
      name: 'mcp_policy_decision_log_dropped_total',
      help: 'Decision-log records dropped by any sink, by reason (queue_full, unserialisable, write_failed, closed).',
      labelNames: ['reason'] as const,
      registers: [registry],
      collect: () => {
        const stats = this.stats();
        dropped.reset();
        for (const reason of DROP_REASONS) dropped.inc({ reason }, stats?.dropped[reason] ?? 0);
      },
    });
    this.written = written;
    this.dropped = dropped;
  }

  /** Reports this sink's counts from now on. */
  observe(stats: () => SinkStats): void {
    this.stats = stats;
  }
}

/**
 * `mcp_policy_auth_failures_total`: requests refused by authentication, by
 * the refusal's code (a closed list, never anything of the request).
 */
export function authFailureCounter(registry: Registry, help: string): Counter<'reason'> {
  return new Counter({
    name: 'mcp_policy_auth_failures_total',
    help,
    labelNames: ['reason'] as const,
    registers: [registry],
  });
}
