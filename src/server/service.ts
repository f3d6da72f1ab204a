/**
 * `mcp-policy serve` as a library: one HTTP service on a unix socket and/or
 * loopback TCP, deciding with the active bundle, reloading it from a file or
 * URL, logging decisions and shutting down without losing a request.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import { type Registry } from 'prom-client';
import { type VerificationOptions } from '../bundle/signature.js';
import { McpPolicyError } from '../core/errors.js';
import { BundleSlot, type LoadedBundle } from './active-bundle.js';
import {
  bundleFromSources,
  type FileWatch,
  offerSources,
  type PolicySources,
  pollBundleUrl,
  type Stoppable,
  watchFile,
} from './bundle-source.js';
import { combineSinks, type DecisionLogSink, openDecisionLog } from '../host/decision-log.js';
import { Decider } from './decisions.js';
import {
  requireAuthentication,
  requireAuthOffLoopback,
  ServeAuthentication,
  type ServeAuthOptions,
} from './authentication.js';
import { listenTcp, listenUnix } from './listen.js';
import { ServeMetrics } from './metrics.js';
import { createHandler, DEFAULT_LIMITS, type Limits } from './routes.js';

/**
 * How long, at shutdown, a connection without a request in progress may take
 * to send one (answered with `Connection: close`) before it is closed. A
 * keep-alive client may have its next request on the wire at the moment
 * shutdown begins; closing such a connection at once resets that request.
 */
const SHUTDOWN_GRACE_MS = 1_000;

/**
 * How often node checks the headers and request deadlines: a tenth of the
 * request deadline, within 25 ms and 500 ms. Node's default (30 s) let a
 * client dripping headers or a body hold a connection for 31 s against a
 * 10 s deadline.
 */
export function deadlineCheckInterval(requestTimeoutMs: number): number {
  return Math.min(500, Math.max(25, Math.floor(requestTimeoutMs / 10)));
}

/** Options of {@link startServe}. */
export interface ServeOptions {
  /** The policy or bundle to serve (and its compile options). */
  readonly sources?: PolicySources;
  /** Unix socket path to listen on (created 0600). */
  readonly socket?: string;
  /** TCP address; one off loopback needs `auth` (else `auth_required`, before anything listens). */
  readonly tcp?: { readonly host: string; readonly port: number };
  /**
   * Bearer tokens (a file, re-read when it changes) and/or JWTs that every
   * TCP request but `/ping` and `/health` must carry; the unix socket never
   * asks. Allowed on loopback too.
   */
  readonly auth?: ServeAuthOptions;
  /** Re-read `sources` when the file changes. */
  readonly watch?: boolean;
  /** Poll a bundle server for new bundles (ETag / If-None-Match). */
  readonly bundleUrl?: string;
  /** Poll interval of `bundleUrl`, in ms. */
  readonly pollIntervalMs?: number;
  /** A candidate decided in shadow: differences are logged and counted, never served. */
  readonly shadow?: PolicySources;
  /** JSON Lines decision log: a file path (owner-only, a regular file, never a link), or `-` for standard output. */
  readonly decisionLog?: string;
  /** A sink of one's own (e.g. an uploader), added beside `decisionLog`; closed with the service. */
  readonly sink?: DecisionLogSink;
  /**
   * Keep the values of requests' `arguments` in decision records. By default
   * each is replaced by its JSON type name: arguments carry secrets and personal data.
   */
  readonly logArguments?: boolean;
  /** Only bundles whose signature verifies with this key are activated (a compiled policy file is unsigned). */
  readonly verification?: VerificationOptions;
  /** Decision-log rotation size in bytes and queue bound. */
  readonly logMaxBytes?: number;
  readonly logMaxQueue?: number;
  readonly limits?: Partial<Limits>;
  /** Close connections idle this long (the gateway never closes its own). */
  readonly idleTimeoutMs?: number;
  /** Whole-request deadline (headers and body), 10 s by default; headers alone get at most 10 s. */
  readonly requestTimeoutMs?: number;
  /** Longest wait for in-flight requests at shutdown before connections are cut. */
  readonly shutdownTimeoutMs?: number;
  /** False in a cluster worker: the primary prepared the socket. */
  readonly prepareSocket?: boolean;
  /** Where `/metrics` reads from, given this service's registry (cluster workers aggregate). */
  readonly metricsSource?: (registry: Registry) => () => Promise<string>;
  /** Where notes go (reloads, rejected bundles, log failures). */
  readonly notify?: (line: string) => void;
}

/** A running service. */
export interface ServeHandle {
  readonly metrics: ServeMetrics;
  readonly slot: BundleSlot;
  /** The bound TCP port, when listening on TCP. */
  readonly port: number | undefined;
  readonly socket: string | undefined;
  /** Re-reads the sources now (what `--watch` does on a change). */
  reload(): Promise<void>;
  /** Stops accepting, finishes in-flight requests, flushes the log. */
  close(): Promise<void>;
}

/** The decision-log sinks: the `decisionLog` file or stream, opened now (a coded error when unusable), and `sink`. */
async function openSinks(options: ServeOptions): Promise<DecisionLogSink> {
  const notify = options.notify ?? (() => undefined);
  let log: DecisionLogSink | undefined;
  if (options.decisionLog !== undefined) {
    try {
      log = await openDecisionLog(options.decisionLog, {
        ...(options.logMaxBytes !== undefined && { maxBytes: options.logMaxBytes }),
        ...(options.logMaxQueue !== undefined && { maxQueue: options.logMaxQueue }),
        onError: (e: Error) => notify(`decision log: ${e.message}; entries are dropped until it is writable`),
      });
    } catch (e) {
      await options.sink?.close();
      throw e;
    }
  }
  return combineSinks([log, options.sink]);
}

/**
 * Starts the service. Rejects with a coded error when the first bundle is
 * bad (a file source) or the socket or port is taken. With only a bundle URL
 * it starts at once and fails closed until the first bundle is active.
 */
export async function startServe(options: ServeOptions): Promise<ServeHandle> {
  requireAuthOffLoopback(options.tcp, options.auth);
  const notify = options.notify ?? (() => undefined);
  const metrics = new ServeMetrics();
  // Read before the bundle is loaded, so a bad token file fails fast; watched only once listening.
  const auth =
    options.auth === undefined || options.tcp === undefined
      ? undefined
      : await ServeAuthentication.open(options.auth, {
          notify,
          onReload: (outcome) => metrics.authReloads.inc({ outcome }),
        });
  const slot = new BundleSlot(
    {
      onActivated: (b: LoadedBundle) => {
        metrics.activated(b.revision);
        notify(`serving bundle ${b.revision.slice(0, 12)} (${b.selfTestCases} self-test cases passed)`);
      },
      onRejected: (e) => {
        metrics.bundleLoads.inc({ outcome: 'rejected' });
        notify(`rejected bundle: ${e.message} (${e.code}); the last good bundle keeps serving`);
      },
    },
    options.verification,
  );
  if (options.sources === undefined && options.bundleUrl === undefined) {
    throw new McpPolicyError('usage', 'give a policy or bundle to serve, or --bundle-url');
  }
  if (options.sources !== undefined) {
    const first = await offerSources(slot, options.sources);
    if (!first.activated) throw first.error;
  }
  let shadowSlot: BundleSlot | undefined;
  if (options.shadow !== undefined) {
    shadowSlot = new BundleSlot();
    const offered = await shadowSlot.offer(await bundleFromSources(options.shadow));
    if (!offered.activated) throw offered.error;
  }

  const sink = await openSinks(options);
  metrics.observeLog(() => sink.stats());
  const decider = new Decider(slot, sink, metrics, shadowSlot, options.logArguments === true);
  let closing = false;
  /** The `--watch` on the sources, once set; `/health` reports it when it is lost. */
  let watch: FileWatch | undefined;
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
  const metricsText = options.metricsSource?.(metrics.registry);
  const servers: Server[] = [];
  const connections = new Map<Socket, { active: number }>();
  const requestTimeout = options.requestTimeoutMs ?? 10_000;
  const makeServer = (tcp: boolean): Server => {
    const handler = createHandler({
      slot,
      decider,
      metrics,
      limits,
      closing: () => closing,
      problem: () => watch?.problem(),
      ...(metricsText && { metricsText }),
    });
    const server = createServer(
      {
        keepAliveTimeout: options.idleTimeoutMs ?? 5_000,
        headersTimeout: Math.min(requestTimeout, 10_000),
        requestTimeout,
        connectionsCheckingInterval: deadlineCheckInterval(requestTimeout),
      },
      // Wrapped once here, so every route, present and future, is behind it.
      tcp && auth !== undefined
        ? requireAuthentication(auth, handler, (reason) => metrics.authFailures.inc({ reason }))
        : handler,
    );
    // A connection that never sends a request is idle too; one whose request is being decided (a long
    // batch yields between slices, so its socket sees no traffic) is not, and its deadline is requestTimeout's.
    server.setTimeout(options.idleTimeoutMs ?? 5_000, (socket) => {
      if ((connections.get(socket)?.active ?? 0) === 0) socket.destroy();
    });
    server.on('connection', (socket: Socket) => {
      connections.set(socket, { active: 0 });
      socket.once('close', () => connections.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const state = connections.get(req.socket);
      if (!state) return;
      state.active++;
      metrics.requestsInFlight.inc();
      res.once('close', () => {
        state.active--;
        metrics.requestsInFlight.dec();
      });
    });
    servers.push(server);
    return server;
  };

  let port: number | undefined;
  try {
    if (options.socket !== undefined) {
      await listenUnix(makeServer(false), options.socket, { prepare: options.prepareSocket ?? true });
    }
    if (options.tcp !== undefined) {
      port = (await listenTcp(makeServer(true), options.tcp.host, options.tcp.port)).port;
    }
  } catch (e) {
    for (const s of servers) s.close();
    await sink.close();
    throw e;
  }
  if (servers.length === 0) throw new McpPolicyError('usage', 'give --socket, --docker-desktop or --addr');

  const reload = async (): Promise<void> => {
    if (options.sources === undefined) return;
    try {
      await offerSources(slot, options.sources);
    } catch (e) {
      metrics.bundleLoads.inc({ outcome: 'rejected' });
      const code = e instanceof McpPolicyError ? ` (${e.code})` : '';
      notify(`rejected bundle: ${(e as Error).message}${code}; the last good bundle keeps serving`);
    }
  };
  const stoppers: Stoppable[] = [];
  if (options.watch && options.sources?.file !== undefined) {
    const file = options.sources.file;
    watch = watchFile(file, () => void reload(), {
      onProblem: (problem) =>
        notify(problem === undefined ? `watching ${file} again` : `watch lost: ${problem}; /health answers 500`),
    });
    stoppers.push(watch);
  }
  if (auth !== undefined) {
    auth.watch((problem) =>
      notify(problem === undefined ? 'watching the token file again' : `token file watch lost: ${problem}`),
    );
    stoppers.push(auth);
  }
  if (options.bundleUrl !== undefined) {
    stoppers.push(
      pollBundleUrl(options.bundleUrl, options.pollIntervalMs ?? 10_000, {
        onBundle: (bytes) => slot.offer(bytes),
        onError: (error) => {
          metrics.bundleFetchErrors.inc();
          notify(`bundle poll failed: ${error}; the last good bundle keeps serving`);
        },
        onPolled: (outcome) => metrics.bundlePolls.inc({ outcome }),
      }),
    );
  }

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      for (const s of stoppers) s.stop();
      const timeout = options.shutdownTimeoutMs ?? 10_000;
      const stopped = Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              const timer = setTimeout(() => server.closeAllConnections(), timeout);
              // net's close, not http's: http's also drops connections whose request is not parsed yet.
              NetServer.prototype.close.call(server, () => {
                clearTimeout(timer);
                resolve();
              });
            }),
        ),
      );
      // Busy connections answer with Connection: close and are closed by node after the reply.
      // The others (between keep-alive requests, or accepted with a request still arriving) get a
      // moment to send one, answered the same way; a request already on the wire is never reset.
      const grace = setTimeout(() => {
        for (const [socket, state] of connections) if (state.active === 0) socket.destroy();
      }, SHUTDOWN_GRACE_MS);
      await stopped;
      clearTimeout(grace);
      await sink.close();
    })();
    return closed;
  };

  return { metrics, slot, port, socket: options.socket, reload, close };
}
