/**
 * Prometheus metrics of the proxy's HTTP listener (`GET /metrics`): sessions,
 * live server processes, decisions by MCP method and result, refused
 * authentications and sessions. Label values come from closed lists only (the
 * method, a result, a code): never a subject, tool name or argument value,
 * which are unbounded and may be secret.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { type AuthFailureCode } from '../host/auth.js';
import { type ProxyStage, type SinkStats } from '../host/decision-log.js';
import { AUTH_FAILURE_CODES, authFailureCounter, DecisionLogMetrics, metricsRegistry } from '../host/metrics.js';
import { type Decision } from '../policy/model.js';

/** Why a session ended, as the listener tells it: `SessionEnd` of `./http.ts`, which imports this module. */
type Ending = 'deleted' | 'expired' | 'evicted' | 'closed' | 'shutdown';

/** The label of each ending: what ended the session. */
const CLOSED_BY: Readonly<Record<Ending, string>> = {
  deleted: 'delete',
  expired: 'idle',
  evicted: 'evicted',
  closed: 'upstream',
  shutdown: 'shutdown',
};

/** Why a new session was refused before it started: 429 past a client's share, 503 past the live children. */
export type SessionRefusal = 'client_limit' | 'children_limit';

/** What the gauges read from the listener when metrics are collected. */
export interface ListenerCounts {
  readonly sessions: number;
  readonly clients: number;
  readonly children: number;
}

/** Options of {@link ProxyMetrics}. */
export interface ProxyMetricsOptions {
  /** prom-client's default process metrics (memory, event-loop lag, ...); on by default. */
  readonly processMetrics?: boolean;
  /** The listener authenticates: every refusal code is shown from the start, at 0. */
  readonly auth?: boolean;
}

/** The proxy's registry and what counts into it; names and labels are listed in docs/proxy.md. */
export class ProxyMetrics {
  readonly registry: Registry;
  private counts: () => ListenerCounts | undefined = () => undefined;
  private readonly log: DecisionLogMetrics;
  private readonly opened: Counter;
  private readonly closed: Counter<'reason'>;
  private readonly refused: Counter<'reason'>;
  private readonly decisions: Counter<'method' | 'result'>;
  private readonly authFailures: Counter<'reason'>;
  private readonly restarts: Counter;

  constructor(options: ProxyMetricsOptions = {}) {
    const registry = metricsRegistry(options);
    this.registry = registry;
    const gauge = (name: string, help: string, read: (c: ListenerCounts) => number): void => {
      const g: Gauge = new Gauge({
        name,
        help,
        registers: [registry],
        collect: () => {
          const counts = this.counts();
          g.set(counts === undefined ? 0 : read(counts));
        },
      });
    };
    gauge('mcp_policy_proxy_sessions', 'Sessions open now.', (c) => c.sessions);
    gauge(
      'mcp_policy_proxy_clients',
      'Client addresses (or subjects, with authentication) holding sessions now.',
      (c) => c.clients,
    );
    gauge(
      'mcp_policy_proxy_children',
      'Live server processes (one per session of a command server, or one shared by all).',
      (c) => c.children,
    );
    this.opened = new Counter({
      name: 'mcp_policy_proxy_sessions_opened_total',
      help: 'Sessions opened (an initialize the policy allowed, given a session id).',
      registers: [registry],
    });
    this.closed = new Counter({
      name: 'mcp_policy_proxy_sessions_closed_total',
      help: 'Sessions ended, by reason (delete, idle, evicted, upstream, shutdown), counted once their server side is closed.',
      labelNames: ['reason'] as const,
      registers: [registry],
    });
    this.refused = new Counter({
      name: 'mcp_policy_proxy_sessions_refused_total',
      help: 'New sessions refused by a limit, by reason (client_limit: 429, children_limit: 503).',
      labelNames: ['reason'] as const,
      registers: [registry],
    });
    this.decisions = new Counter({
      name: 'mcp_policy_proxy_decisions_total',
      help: 'Policy decisions by MCP method and result (allowed, denied, error): one per listed entry, one per other request.',
      labelNames: ['method', 'result'] as const,
      registers: [registry],
    });
    this.restarts = new Counter({
      name: 'mcp_policy_proxy_upstream_restarts_total',
      help: 'Times a shared server was started again after it went away.',
      registers: [registry],
    });
    this.authFailures = authFailureCounter(
      registry,
      'HTTP requests refused by authentication, by reason (missing_token, invalid_token, ...).',
    );
    this.log = new DecisionLogMetrics(registry);
    // Counters present from the start, so a rate over them is defined before the first event.
    this.opened.inc(0);
    this.restarts.inc(0);
    for (const reason of Object.values(CLOSED_BY)) this.closed.inc({ reason }, 0);
    for (const reason of ['client_limit', 'children_limit'] satisfies SessionRefusal[]) this.refused.inc({ reason }, 0);
    if (options.auth === true) for (const reason of AUTH_FAILURE_CODES) this.authFailures.inc({ reason }, 0);
  }

  /** Reads the listener's sessions, clients and children from now on. */
  observeListener(counts: () => ListenerCounts): void {
    this.counts = counts;
  }

  /** Reports the decision log's counts from now on. */
  observeLog(stats: () => SinkStats): void {
    this.log.observe(stats);
  }

  /** A session was given its id. */
  sessionOpened(): void {
    this.opened.inc();
  }

  /** A session's server side is closed. */
  sessionClosed(ending: Ending): void {
    this.closed.inc({ reason: CLOSED_BY[ending] });
  }

  /** A shared server was started again after it went away. */
  upstreamRestarted(): void {
    this.restarts.inc();
  }

  /** A new session was refused by a limit. */
  sessionRefused(reason: SessionRefusal): void {
    this.refused.inc({ reason });
  }

  /** A request was refused by authentication. */
  authFailed(code: AuthFailureCode): void {
    this.authFailures.inc({ reason: code });
  }

  /**
   * Counts one decision as the client meets it. The check of a new session
   * is counted under `initialize`, the request that asks for it; everything
   * else under its method (the decision log's `stage`).
   */
  decided(stage: ProxyStage, decision: Decision): void {
    const result = decision.error !== undefined ? 'error' : decision.allowed ? 'allowed' : 'denied';
    this.decisions.inc({ method: stage === 'session' ? 'initialize' : stage, result });
  }

  /** The text format, and its content type. */
  async text(): Promise<{ readonly body: string; readonly contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
