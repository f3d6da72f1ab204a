/**
 * The proxy's client side over streamable HTTP: one MCP session per client,
 * each with its own connection to the server (MCP sessions are stateful).
 * Loopback only unless asked, Host and Origin checked against DNS rebinding,
 * bounded bodies, sessions and request times. With authentication, the
 * listener is an OAuth 2.1 resource server: every MCP request needs a bearer
 * token, its principal decides, and a session stays with the subject that
 * opened it. The token never goes further than this module.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { type AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isJsonContentType } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import { McpPolicyError } from '../core/errors.js';
import { type AuthOptions, type Authenticator, createAuthenticator } from '../host/auth.js';
import { type Principal } from '../policy/model.js';
import { serverTransport } from './downstream.js';
import { type PolicyGate } from './enforce.js';
import { type ServerTarget } from './facts.js';
import { BoundedEventStore } from './event-store.js';
import { principalOf } from './identity.js';
import { ProxyMetrics } from './metrics.js';
import { type AuthExtra, Relay, type RelayOptions } from './relay.js';
import { SharedUpstream, type UpstreamSharing } from './shared.js';

/** Limits of the HTTP listener (defaults; the per-session and per-client ones can be set). */
export const HTTP_LIMITS = {
  maxBodyBytes: 4 * 1024 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  /**
   * A session with no open request (a held SSE stream is one) for this long is ended; clients need not send
   * DELETE. Short, because a client in use holds its SSE stream and never counts as idle: what expires is a
   * session its client abandoned, which still holds an upstream session (a child process for a command server).
   * A client that comes back later gets 404 and, as MCP asks, starts a new session.
   */
  sessionIdleMs: 60_000,
  /**
   * Sessions one client may hold at once. A new session past it ends the client's least recently used idle
   * session (`evicted`); only when every one of them is busy is it answered 429 with Retry-After.
   */
  maxSessionsPerClient: 256,
  /**
   * Live child processes (one per session of a stdio server, unless the server is shared); past it a new session
   * is answered 503.
   */
  maxChildren: 128,
  /** How long SIGTERM waits for the server's answers to requests in flight. */
  shutdownGraceMs: 10_000,
} as const;

/**
 * Why a session ended: `evicted` when its client, at its session limit, opened a new one and this was its least
 * recently used idle session.
 */
export type SessionEnd = 'deleted' | 'expired' | 'evicted' | 'closed' | 'shutdown';

/** Retry-After of a 429, in seconds: every session of the client is busy, and any may turn idle at any time. */
export const BUSY_RETRY_AFTER_SECONDS = 5;

/**
 * Authentication of the listener: the options of `src/host/auth.ts`, whose
 * `resource` (the audience and RFC 9728 `resource`) is the listening URL
 * unless given, e.g. as the public URL in front of a reverse proxy.
 */
export type HttpAuthOptions = Omit<AuthOptions, 'resource'> & { readonly resource?: string };

/** Options of the HTTP listener. */
export interface HttpOptions {
  /** Bearer-token authentication of every MCP request; without it every caller is the same anonymous one. */
  readonly auth?: HttpAuthOptions;
  readonly allowNonLoopback?: boolean;
  readonly onerror?: (e: Error) => void;
  readonly relay?: RelayOptions;
  /** See {@link HTTP_LIMITS}. */
  readonly sessionIdleMs?: number;
  readonly maxSessionsPerClient?: number;
  readonly maxChildren?: number;
  readonly shutdownGraceMs?: number;
  /**
   * `session` (the default): each session gets its own server session, a child process for a command server.
   * `shared`: every session goes through one server session (one child), for servers that keep no per-client
   * state; see `./shared.ts`.
   */
  readonly upstreamSharing?: UpstreamSharing;
  /** The proxy's name and version, as the client a shared server sees. */
  readonly clientInfo?: { readonly name: string; readonly version: string };
  /**
   * Who a request counts against for the session limits when it is not
   * authenticated: by default the client's address. With `auth`, the
   * principal's subject is the key instead.
   */
  readonly clientKey?: (req: IncomingMessage) => string;
  /** Told the code of every refused authentication (for counting). */
  readonly onAuthFailure?: (code: string) => void;
  /** Called once for every session that ends, after its server side is closed (and its child reaped). */
  readonly onSessionEnd?: (event: { readonly id: string; readonly reason: SessionEnd }) => void;
  /** What `GET /metrics` reports; the listener counts its sessions, refusals and authentications into it. */
  readonly metrics?: ProxyMetrics;
}

/** What `GET /health` on the listener reports. */
export interface HttpStatus {
  readonly status: 'ok' | 'draining';
  readonly sessions: number;
  /** Sessions with no request or stream open: those a client at its limit may evict. */
  readonly idle: number;
  readonly clients: number;
  readonly children: number;
  /** How sessions reach the server: `session` (one server session each) or `shared` (one for all). */
  readonly upstreamSharing: UpstreamSharing;
  /** A shared server: the times it was started again after it went away. */
  readonly restarts?: number;
  readonly limits: {
    readonly sessionIdleSeconds: number;
    readonly maxSessionsPerClient: number;
    readonly maxChildren: number | null;
  };
  readonly ended: Readonly<Record<SessionEnd, number>>;
  /** With authentication: the requests refused, by the code of why (`missing_token`, `invalid_token`, …). */
  readonly authFailures?: Readonly<Record<string, number>>;
}

interface Session {
  readonly transport: StreamableHTTPServerTransport;
  readonly relay: Relay;
  readonly client: string;
  /** The subject that opened the session, when authenticated: no one else may use it. */
  readonly subject?: string;
  open: number;
  lastSeen: number;
  ending?: SessionEnd;
  /** Gives the session's place in its client's count back (once), so an evicted one frees it at once. */
  releaseClient(): void;
}

/** Runs one HTTP exchange of a session, keeping count of its open requests (a held SSE stream is one). */
async function serve(session: Session, req: IncomingMessage, res: ServerResponse): Promise<void> {
  session.open++;
  res.once('close', () => {
    session.open--;
    session.lastSeen = Date.now();
  });
  if (!readsJsonBody(req)) return session.transport.handleRequest(req, res);
  const body = await readJsonBody(req);
  if (body.ok) return session.transport.handleRequest(req, res, body.value);
  session.transport.onerror?.(new Error(body.message));
  reject(res, body.status, body.message, {}, undefined, body.code);
}

/**
 * A POST the SDK would read the JSON body of: its Accept and Content-Type pass the checks the SDK makes first, so
 * reading it here changes no answer. Read here, the body never becomes a web stream, and the web `Request` the
 * SDK is handed is never built (for a small `tools/call` that was a large part of the listener's work).
 */
function readsJsonBody(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  const type = req.headers['content-type'];
  return (
    req.method === 'POST' &&
    accept !== undefined &&
    accept.includes('application/json') &&
    accept.includes('text/event-stream') &&
    type !== undefined &&
    isJsonContentType(type)
  );
}

type JsonBody =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly status: number; readonly code: number; readonly message: string };

/** The body as JSON, refused as the SDK refuses it: 413 past the limit, 400 (-32700) when it is not JSON. */
function readJsonBody(req: IncomingMessage, max: number = HTTP_LIMITS.maxBodyBytes): Promise<JsonBody> {
  const tooLarge: JsonBody = {
    ok: false,
    status: 413,
    code: -32000,
    message: `Payload Too Large: Request body must not exceed ${max} bytes`,
  };
  const invalid: JsonBody = { ok: false, status: 400, code: -32700, message: 'Parse error: Invalid JSON' };
  if (Number(req.headers['content-length']) > max) return Promise.resolve(tooLarge);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (result: JsonBody): void => {
      req.off('data', onData).off('end', onEnd).off('error', onError);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      chunks.push(chunk);
      if (size > max) done(tooLarge);
    };
    const onEnd = (): void => {
      try {
        // TextDecoder as the SDK decodes: a byte order mark is dropped, bad bytes become U+FFFD.
        done({ ok: true, value: JSON.parse(utf8.decode(Buffer.concat(chunks, size))) });
      } catch {
        done(invalid);
      }
    };
    const onError = (): void => done(invalid);
    req.on('data', onData).on('end', onEnd).on('error', onError);
  });
}
const utf8 = new TextDecoder();

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** True for hosts that only this machine can reach. */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK.has(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** A running HTTP listener. */
export interface HttpListener {
  /** The URL clients connect to (with the real port when 0 was asked). */
  readonly url: URL;
  /** Sessions, clients and live children now. */
  status(): HttpStatus;
  /** The `GET /metrics` text (Prometheus), also after {@link close}. */
  metrics(): Promise<string>;
  /**
   * Stops accepting; every session's requests in flight get their answers
   * (or an error after the grace time), then it and its server side close.
   */
  close(): Promise<void>;
}

function reject(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
  code?: string,
  rpcCode = -32000,
): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json', connection: 'close', ...headers });
  const error = { code: rpcCode, message, ...(code !== undefined && { data: { code } }) };
  res.end(JSON.stringify({ jsonrpc: '2.0', error, id: null }));
}

/** Starts listening at `url` (`http://127.0.0.1:PORT/path`). */
export async function listenHttp(
  url: URL,
  target: ServerTarget,
  gate: PolicyGate,
  options: HttpOptions = {},
): Promise<HttpListener> {
  if (url.protocol !== 'http:')
    throw new McpPolicyError('usage', `--listen must be stdio or an http:// URL, not "${url.href}"`);
  const loopback = isLoopbackHost(url.hostname);
  // Other machines may reach an authenticated listener; an anonymous one only when asked in so many words.
  if (!loopback && options.auth === undefined && options.allowNonLoopback !== true) {
    throw new McpPolicyError(
      'auth_required',
      `refusing to listen on "${url.hostname}" without authentication: give --auth-issuer URL --auth-audience AUD ` +
        '--auth-jwks URL|FILE, or add --allow-non-loopback to let anyone who reaches it in',
    );
  }
  const idleMs = options.sessionIdleMs ?? HTTP_LIMITS.sessionIdleMs;
  const perClient = options.maxSessionsPerClient ?? HTTP_LIMITS.maxSessionsPerClient;
  const sharing = options.upstreamSharing ?? 'session';
  const shared =
    sharing === 'shared'
      ? new SharedUpstream(() => serverTransport(target), {
          clientInfo: options.clientInfo ?? { name: 'mcp-policy', version: '0' },
          idleMs: options.sessionIdleMs ?? HTTP_LIMITS.sessionIdleMs,
          ...(options.onerror && { onerror: options.onerror }),
          onrestart: () => metrics.upstreamRestarted(),
        })
      : undefined;
  // A shared server is one child whatever the sessions; only a child per session needs the bound checked.
  const spawnsChildren = target.kind === 'command' && shared === undefined;
  const maxChildren = options.maxChildren ?? HTTP_LIMITS.maxChildren;
  // Only a command server has processes: one per session, or the shared one.
  const children = (): number => (target.kind !== 'command' ? 0 : shared ? shared.children : live);
  const graceMs = options.shutdownGraceMs ?? HTTP_LIMITS.shutdownGraceMs;
  const clientKey = options.clientKey ?? ((req: IncomingMessage) => req.socket.remoteAddress ?? 'unknown');
  const healthPath = new URL('/health', url).pathname;
  // An MCP endpoint at /metrics keeps its path; the metrics are then not served.
  const metricsPath = url.pathname === '/metrics' ? undefined : '/metrics';
  const metrics = options.metrics ?? new ProxyMetrics({ auth: options.auth !== undefined });
  /** Set once listening, when `auth` is given (the resource defaults to the URL with its real port). */
  let authenticator: Authenticator | undefined;
  const metadataPaths = new Set<string>();
  const authFailures: Record<string, number> = {};

  const sessions = new Map<string, Session>();
  /** Sessions per client, counted from their first request until their server side is closed. */
  const perClientCount = new Map<string, number>();
  /** Sessions whose server side is open, started or closing: each holds a child process for a stdio server. */
  let live = 0;
  let draining = false;
  const ended: Record<SessionEnd, number> = { deleted: 0, expired: 0, evicted: 0, closed: 0, shutdown: 0 };

  const release = (client: string): void => {
    const n = (perClientCount.get(client) ?? 1) - 1;
    if (n <= 0) perClientCount.delete(client);
    else perClientCount.set(client, n);
  };
  const end = (session: Session, reason: SessionEnd, how: 'close' | 'shutdown' = 'close'): Promise<void> => {
    session.ending ??= reason;
    return how === 'shutdown' ? session.relay.shutdown(graceMs) : session.relay.close();
  };
  /**
   * Ends the client's least recently used session that has nothing open, to make room for a new one; false when
   * every session of the client is busy (or already ending). A session counts as busy from the moment one of
   * its requests is taken up, so one with a request or stream in flight is never chosen.
   */
  const evictIdle = (client: string): { evicted: false } | { evicted: true; closed: Promise<void> } => {
    let oldest: Session | undefined;
    for (const s of sessions.values()) {
      if (s.client !== client || s.ending !== undefined || s.open > 0) continue;
      if (oldest === undefined || s.lastSeen < oldest.lastSeen) oldest = s;
    }
    if (oldest === undefined) return { evicted: false };
    oldest.releaseClient();
    const idleFor = Math.round((Date.now() - oldest.lastSeen) / 1000);
    // The client's own session, so the client learns nothing new; its id stays out of the log all the same.
    options.onerror?.(
      new Error(
        `ended a session idle for ${idleFor} s to open a new one: its client is at its limit of ${perClient} sessions`,
      ),
    );
    return { evicted: true, closed: end(oldest, 'evicted') };
  };
  // Checked often enough that a session outlives its idle time by at most a quarter of it (and at most 30 s).
  const sweepMs = Math.max(25, Math.min(Math.floor(idleMs / 4), 30_000));
  const sweep = setInterval(() => {
    const cutoff = Date.now() - idleMs;
    for (const s of sessions.values())
      if (s.ending === undefined && s.open === 0 && s.lastSeen < cutoff) void end(s, 'expired');
  }, sweepMs).unref();

  const status = (): HttpStatus => ({
    status: draining ? 'draining' : 'ok',
    sessions: sessions.size,
    idle: [...sessions.values()].filter((s) => s.ending === undefined && s.open === 0).length,
    clients: perClientCount.size,
    children: children(),
    upstreamSharing: sharing,
    ...(shared && { restarts: shared.restarts }),
    limits: {
      sessionIdleSeconds: idleMs / 1000,
      maxSessionsPerClient: perClient,
      maxChildren: target.kind !== 'command' ? null : shared ? 1 : maxChildren,
    },
    ended: { ...ended },
    ...(authenticator && { authFailures: { ...authFailures } }),
  });
  metrics.observeListener(() => ({
    sessions: sessions.size,
    clients: perClientCount.size,
    children: children(),
  }));

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://host').pathname;
    if (path !== url.pathname && path !== healthPath && path !== metricsPath && !metadataPaths.has(path)) {
      return reject(res, 404, `no MCP endpoint at "${path}"`);
    }
    if (loopback) {
      // A page on another site resolving its name to 127.0.0.1 must not reach the proxy.
      const host = new URL(`http://${req.headers.host ?? ''}`).hostname;
      const origin = req.headers.origin;
      if (!isLoopbackHost(host)) return reject(res, 403, `host "${host}" is not allowed`);
      if (origin !== undefined && origin !== 'null' && !isLoopbackHost(new URL(origin).hostname)) {
        return reject(res, 403, `origin "${origin}" is not allowed`);
      }
    }
    if (path === healthPath) {
      if (req.method !== 'GET') return reject(res, 405, `${req.method ?? ''} is not allowed on ${healthPath}`);
      res.writeHead(draining ? 503 : 200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(status()));
      return;
    }
    if (metadataPaths.has(path) && authenticator) {
      // RFC 9728: open to anyone, so a client learns where to get a token.
      if (req.method !== 'GET') return reject(res, 405, `${req.method ?? ''} is not allowed on ${path}`);
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
      res.end(JSON.stringify(authenticator.metadata()));
      return;
    }
    let principal: Principal | undefined;
    if (authenticator) {
      const result = await authenticator.authenticate(req.headers);
      if (!result.ok) {
        const { failure } = result;
        authFailures[failure.code] = (authFailures[failure.code] ?? 0) + 1;
        metrics.authFailed(failure.code);
        options.onAuthFailure?.(failure.code);
        return reject(res, failure.status, failure.message, { ...failure.headers }, failure.code);
      }
      principal = principalOf(result.principal);
      // The SDK hands `req.auth` to each message it reads, so every request is decided for its own token's
      // principal. The token is not kept: the server side never sees it.
      const auth: AuthInfo & { extra: AuthExtra } = {
        token: '',
        clientId: result.principal.subject,
        scopes: [...result.principal.scopes],
        extra: { principal },
      };
      (req as IncomingMessage & { auth?: AuthInfo }).auth = auth;
    }
    if (path === metricsPath) {
      // Behind the same authentication as MCP: the counts tell who is busy and what is denied.
      if (req.method !== 'GET') return reject(res, 405, `${req.method ?? ''} is not allowed on ${metricsPath}`);
      try {
        const { body, contentType } = await metrics.text();
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
        res.end(body);
      } catch {
        reject(res, 500, 'metrics unavailable');
      }
      return;
    }
    const subject = principal?.sub;
    const sid = req.headers['mcp-session-id'];
    if (typeof sid === 'string') {
      const session = sessions.get(sid);
      // Another subject's session is answered as unknown: a session id is no credential.
      if (!session || session.ending !== undefined || session.subject !== subject) {
        return reject(res, 404, 'session not found');
      }
      return serve(session, req, res);
    }
    if (draining) return reject(res, 503, 'the proxy is shutting down', { 'retry-after': '5' });
    if (req.method !== 'POST') return reject(res, 400, 'no session: start one with an initialize request');
    const client = subject !== undefined ? `sub:${subject}` : clientKey(req);
    while ((perClientCount.get(client) ?? 0) >= perClient) {
      const eviction = evictIdle(client);
      if (!eviction.evicted) {
        metrics.sessionRefused('client_limit');
        return reject(
          res,
          429,
          `too many sessions for this client (${perClient}), each with a request or stream open; end one with DELETE or wait`,
          { 'retry-after': String(BUSY_RETRY_AFTER_SECONDS) },
        );
      }
      // The evicted session's child is reaped before a new one is started, so the live children stay bounded.
      if (spawnsChildren && live >= maxChildren) await eviction.closed;
      if (draining) return reject(res, 503, 'the proxy is shutting down', { 'retry-after': '5' });
    }
    const held = perClientCount.get(client) ?? 0;
    if (spawnsChildren && live >= maxChildren) {
      metrics.sessionRefused('children_limit');
      return reject(res, 503, `too many server processes (${maxChildren}); try again later`, {
        'retry-after': String(Math.max(1, Math.ceil(sweepMs / 1000))),
      });
    }
    perClientCount.set(client, held + 1);
    live++;
    let released = false;
    let clientReleased = false;
    const releaseClient = (): void => {
      if (clientReleased) return;
      clientReleased = true;
      release(client);
    };
    const releaseOnce = (): void => {
      if (released) return;
      released = true;
      live--;
      releaseClient();
    };
    let relay: Relay | undefined;
    let transport: StreamableHTTPServerTransport | undefined;
    try {
      const verdict = await gate.checkServer('session', principal);
      if (!verdict.allowed) {
        releaseOnce();
        return reject(res, 403, verdict.reason);
      }
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        maxRequestBodySize: HTTP_LIMITS.maxBodyBytes,
        eventStore: new BoundedEventStore(),
        onsessioninitialized: (id) => {
          sessions.set(id, session);
          metrics.sessionOpened();
        },
        // Called only for a valid DELETE of this session, before the transport closes.
        onsessionclosed: () => void (session.ending ??= 'deleted'),
      });
      transport = created;
      relay = new Relay(created, shared ? shared.attach() : serverTransport(target), gate, options.relay);
      const session: Session = {
        transport: created,
        relay,
        client,
        ...(subject !== undefined && { subject }),
        open: 0,
        lastSeen: Date.now(),
        releaseClient,
      };
      relay.onclose = () => {
        const id = created.sessionId;
        releaseOnce();
        if (id !== undefined && sessions.get(id) === session) {
          sessions.delete(id);
          const reason = session.ending ?? 'closed';
          ended[reason]++;
          metrics.sessionClosed(reason);
          options.onSessionEnd?.({ id, reason });
        }
      };
      if (options.onerror) relay.onerror = options.onerror;
      await relay.start();
      await serve(session, req, res);
    } catch (e) {
      releaseOnce();
      throw e;
    }
    // Anything but a valid initialize leaves no session behind.
    if (transport.sessionId === undefined || !sessions.has(transport.sessionId)) await relay.close();
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      options.onerror?.(e instanceof Error ? e : new Error(String(e)));
      reject(res, 500, 'internal proxy error');
    });
  });
  server.headersTimeout = HTTP_LIMITS.headersTimeoutMs;
  server.requestTimeout = HTTP_LIMITS.requestTimeoutMs;
  await new Promise<void>((resolve, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(new McpPolicyError('listen_failed', `cannot listen on ${url.host}: ${e.code ?? e.message}`)),
    );
    server.listen(Number(url.port || 80), url.hostname.replace(/^\[|\]$/g, ''), () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const actual = new URL(url.href);
  actual.port = String(port);
  if (options.auth) {
    try {
      authenticator = await createAuthenticator({ ...options.auth, resource: options.auth.resource ?? actual.href });
    } catch (e) {
      clearInterval(sweep);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      throw e;
    }
    metadataPaths.add('/.well-known/oauth-protected-resource');
    const published = authenticator.resourceMetadataUrl;
    if (published !== undefined) metadataPaths.add(new URL(published).pathname);
  }
  return {
    url: actual,
    status,
    metrics: async () => (await metrics.text()).body,
    close: async () => {
      draining = true;
      clearInterval(sweep);
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.allSettled(
        [...sessions.values()].map((s) => {
          const closed = new Promise<void>((resolve) => {
            const before = s.relay.onclose;
            s.relay.onclose = () => {
              before?.();
              resolve();
            };
          });
          void end(s, 'shutdown', 'shutdown');
          return closed;
        }),
      );
      // Every session has let go of the shared server by now: its child is reaped before close resolves.
      await shared?.close();
      server.closeAllConnections();
      await closing;
    },
  };
}
