/**
 * Prometheus metrics of the decision service (prom-client), on a registry of
 * its own so several services in one process (tests, workers) never share
 * counters.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { type SinkStats } from '../host/decision-log.js';
import { authFailureCounter, DecisionLogMetrics } from '../host/metrics.js';

/** What `/metrics` reports; names and labels are listed in docs/serve.md. */
export class ServeMetrics {
  readonly registry = new Registry();
  readonly decisions = new Counter({
    name: 'mcp_policy_decisions_total',
    help: 'Decisions answered, by endpoint and result (allowed, denied, error).',
    labelNames: ['endpoint', 'result'] as const,
    registers: [this.registry],
  });
  /** The same decisions by protocol, so a dashboard need not know every path of each. */
  readonly familyDecisions = new Counter({
    name: 'mcp_policy_family_decisions_total',
    help: 'Decisions answered, by endpoint family (docker, opa, authzen) and result (allowed, denied, error).',
    labelNames: ['family', 'result'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'mcp_policy_decision_duration_seconds',
    help: 'Time to decide one HTTP request (a whole batch counts once), from parsed body to reply.',
    labelNames: ['endpoint'] as const,
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
    registers: [this.registry],
  });
  readonly bundleLoads = new Counter({
    name: 'mcp_policy_bundle_loads_total',
    help: 'Bundles offered for activation, by outcome (activated, rejected).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly bundleFetchErrors = new Counter({
    name: 'mcp_policy_bundle_fetch_errors_total',
    help: 'Failed polls of --bundle-url (unreachable, timeouts, HTTP errors).',
    registers: [this.registry],
  });
  readonly bundlePolls = new Counter({
    name: 'mcp_policy_bundle_polls_total',
    help: 'Completed polls of --bundle-url, by outcome (unchanged, offered, failed); an offer is decided when counted.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly requestsInFlight = new Gauge({
    name: 'mcp_policy_http_requests_in_flight',
    help: 'HTTP requests whose headers have arrived and whose reply is not finished yet.',
    registers: [this.registry],
  });
  readonly workPending = new Gauge({
    name: 'mcp_policy_work_pending',
    help: 'Work admitted and not yet decided, in rule checks (each request at its bound on the active policy).',
    registers: [this.registry],
  });
  readonly workRefused = new Counter({
    name: 'mcp_policy_work_refused_total',
    help: 'Requests refused for the work they ask for, by code (work_too_large, server_busy).',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly bundleInfo = new Gauge({
    name: 'mcp_policy_bundle_info',
    help: 'The active bundle: 1 for its revision, absent before any bundle is active.',
    labelNames: ['revision'] as const,
    // Summed over workers it would read N; every worker serves the same revision.
    aggregator: 'max',
    registers: [this.registry],
  });
  /** The decision log's counts (`mcp_policy_decision_log_*`), read from the sink when metrics are collected. */
  private readonly log = new DecisionLogMetrics(this.registry);
  readonly shadowDifferences = new Counter({
    name: 'mcp_policy_shadow_differences_total',
    help: 'Decisions where the --shadow candidate disagreed with the active bundle.',
    registers: [this.registry],
  });
  readonly authFailures = authFailureCounter(
    this.registry,
    'TCP requests refused by authentication, by reason (missing_token, invalid_token, ...).',
  );
  readonly authReloads = new Counter({
    name: 'mcp_policy_auth_token_file_reloads_total',
    help: 'Reads of the token file after a change, by outcome (loaded, failed: no token of the file accepted).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly auditEvents = new Counter({
    name: 'mcp_policy_audit_events_total',
    help: 'Audit events posted by the gateway, by result (allowed, denied, other).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Records the revision now serving. */
  activated(revision: string): void {
    this.bundleInfo.reset();
    this.bundleInfo.set({ revision }, 1);
    this.bundleLoads.inc({ outcome: 'activated' });
  }

  /** Reports the decision log's counts from now on. */
  observeLog(stats: () => SinkStats): void {
    this.log.observe(stats);
  }
}
