/**
 * `mcp-policy proxy`: a policy-enforcing MCP proxy in front of one server,
 * facing its client over stdio or streamable HTTP.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { type Engine } from '../engines/engine.js';
import { McpPolicyError } from '../core/errors.js';
import { type DecisionLogSink, NULL_SINK, openDecisionLog, type ProxyStage } from '../host/decision-log.js';
import { type PolicyProfile } from '../host/policy-profile.js';
import { type Decision, type Principal } from '../policy/model.js';
import { serverTransport } from './downstream.js';
import { PolicyGate } from './enforce.js';
import { type ServerFacts, type ServerTarget } from './facts.js';
import { HTTP_LIMITS, type HttpAuthOptions, type HttpListener, type HttpOptions, listenHttp } from './http.js';
import { ProxyMetrics } from './metrics.js';
import { ToolPins } from './pins.js';
import { Relay, type RelayOptions } from './relay.js';

/** Everything a proxy needs. */
export interface ProxyOptions {
  readonly engine: Engine;
  readonly target: ServerTarget;
  readonly facts: ServerFacts;
  /** `stdio`, or the URL to listen on for streamable HTTP. */
  readonly listen: 'stdio' | URL;
  /** A JSON Lines decision log: a file (owner-only, a regular file, never a link), or `-` for standard output over HTTP only (over stdio it is the MCP stream). */
  readonly decisionLog?: string;
  /** Tool pinning: the lock file, and whether to (re)record approved tools. */
  readonly pin?: { readonly path: string; readonly update: boolean };
  readonly allowNonLoopback?: boolean;
  /**
   * HTTP only: bearer-token (JWT) authentication of every MCP request, whose
   * claims become the policy's `principal`.
   */
  readonly auth?: HttpAuthOptions;
  /** A fixed principal for every request (a single-user proxy); not with `auth`. */
  readonly principal?: Principal;
  /** Keep argument values in decision records; by default each is replaced by its JSON type. */
  readonly logArguments?: boolean;
  /** With `logArguments`: argument member names whose values are logged as their types only. */
  readonly redactArguments?: readonly string[];
  /**
   * The policy's costs and argument paths (`policyProfile(data)` of the data
   * the engine decides on): requests are priced before deciding, and records
   * name the argument paths that decided. Without it nothing is priced.
   */
  readonly profile?: PolicyProfile;
  /** Most rule checks one policy request may ask for (default 50,000); past it the request is refused. */
  readonly maxWork?: number;
  /** Limits of each relayed session, such as how long the proxy waits for its own requests. */
  readonly relay?: RelayOptions;
  /** HTTP session limits and hooks (idle time, sessions per client, children, shutdown grace, session end events). */
  readonly http?: Omit<HttpOptions, 'allowNonLoopback' | 'onerror' | 'relay' | 'auth' | 'metrics'>;
  /** Diagnostics (never the MCP stream). */
  readonly onerror?: (error: Error) => void;
}

/** A running proxy. */
export interface RunningProxy {
  /** The URL clients connect to, when listening over HTTP. */
  readonly url?: URL;
  /** The HTTP listener's sessions, clients and children (as `GET /health` reports them), and its metrics. */
  readonly http?: Pick<HttpListener, 'status' | 'metrics'>;
  /**
   * Settles when the proxy has stopped (the client or server went away, or
   * {@link close}). Over stdio it rejects with `server_failed` when the server
   * ended the session; the client's waiting requests were answered first.
   */
  readonly done: Promise<void>;
  /**
   * Stops the proxy: requests in flight get the server's answer (or an error
   * after the grace time), server sessions are closed, the log is flushed.
   */
  close(): Promise<void>;
}

/**
 * Starts a proxy. Over stdio the server's `load` is checked first and a denial
 * throws `server_denied` before the server is started; over HTTP each new
 * session is checked and refused with the reason.
 */
export async function startProxy(options: ProxyOptions): Promise<RunningProxy> {
  if (options.decisionLog === '-' && options.listen === 'stdio') {
    // Over stdio, standard output is the client's MCP stream: a log line there would corrupt it.
    throw new McpPolicyError(
      'usage',
      'a decision log on standard output would corrupt the stdio MCP stream; give a file',
    );
  }
  if (options.auth !== undefined && options.listen === 'stdio') {
    throw new McpPolicyError(
      'usage',
      'authentication (--auth-*) needs --listen http://…; over stdio use --principal-sub',
    );
  }
  if (options.auth !== undefined && options.principal !== undefined) {
    throw new McpPolicyError('usage', 'give either authentication (--auth-*) or a fixed principal, not both');
  }
  const log: DecisionLogSink = options.decisionLog
    ? await openDecisionLog(options.decisionLog, {
        ...(options.onerror && {
          onError: (e: Error) => options.onerror?.(new Error(`decision log: ${e.message}; records are dropped`)),
        }),
      })
    : NULL_SINK;
  try {
    const pins = options.pin && (await ToolPins.open(options.pin.path, options.facts.server, options.pin.update));
    // Metrics are served on the HTTP listener only; over stdio nothing could read them.
    const metrics = options.listen === 'stdio' ? undefined : new ProxyMetrics({ auth: options.auth !== undefined });
    metrics?.observeLog(() => log.stats());
    const gate = new PolicyGate(options.engine, options.facts, log, pins, {
      ...(metrics && { onDecision: (stage: ProxyStage, d: Decision) => metrics.decided(stage, d) }),
      ...(options.principal !== undefined && { principal: options.principal }),
      ...(options.logArguments !== undefined && { logArguments: options.logArguments }),
      ...(options.redactArguments !== undefined && { redactArguments: options.redactArguments }),
      ...(options.profile !== undefined && { profile: options.profile }),
      ...(options.maxWork !== undefined && { maxWork: options.maxWork }),
    });
    if (options.listen === 'stdio') {
      const verdict = await gate.checkServer('start');
      if (!verdict.allowed) throw new McpPolicyError('server_denied', verdict.reason);
      const relay = new Relay(new StdioServerTransport(), serverTransport(options.target), gate, options.relay);
      if (options.onerror) relay.onerror = options.onerror;
      const done = new Promise<void>((resolve) => (relay.onclose = resolve))
        .then(() => log.close())
        .then(() => {
          if (relay.failure) throw relay.failure;
        });
      // Whoever awaits `done` sees the failure; a start that fails throws its own error instead.
      done.catch(() => undefined);
      await relay.start().catch(async (e: unknown) => {
        await relay.close();
        throw new McpPolicyError('server_start_failed', `cannot start the server: ${(e as Error).message}`, {
          cause: e,
        });
      });
      // The SDK's stdio transport ignores end of input; a client that goes away must end the session.
      process.stdin.once('end', () => void relay.close());
      return {
        done,
        close: async () => {
          await relay.shutdown(options.http?.shutdownGraceMs ?? HTTP_LIMITS.shutdownGraceMs);
          await done;
        },
      };
    }
    const listener = await listenHttp(options.listen, options.target, gate, {
      ...(options.allowNonLoopback !== undefined && { allowNonLoopback: options.allowNonLoopback }),
      ...(options.onerror && { onerror: options.onerror }),
      ...(options.relay && { relay: options.relay }),
      ...(options.auth && { auth: options.auth }),
      ...(metrics && { metrics }),
      ...options.http,
    });
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const done = stopped.then(() => listener.close()).then(() => log.close());
    return {
      url: listener.url,
      http: { status: () => listener.status(), metrics: () => listener.metrics() },
      done,
      close: async () => {
        stop();
        await done;
      },
    };
  } catch (e) {
    await log.close();
    throw e;
  }
}
