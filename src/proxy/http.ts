/**
 * The proxy's client side over streamable HTTP: one MCP session per client,
 * each with its own connection to the server (MCP sessions are stateful).
 * Loopback only unless asked, Host and Origin checked against DNS rebinding,
 * bounded bodies, sessions and request times.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { McpPolicyError } from '../core/errors.js';
import { serverTransport } from './downstream.js';
import { type PolicyGate } from './enforce.js';
import { type ServerTarget } from './facts.js';
import { Relay, type RelayOptions } from './relay.js';

/** Limits of the HTTP listener. */
export const HTTP_LIMITS = {
  maxBodyBytes: 4 * 1024 * 1024,
  maxSessions: 64,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  /** A session with no open request for this long is ended (clients need not send DELETE). */
  sessionIdleMs: 15 * 60_000,
} as const;

interface Session {
  readonly transport: StreamableHTTPServerTransport;
  readonly relay: Relay;
  open: number;
  lastSeen: number;
}

/** Runs one HTTP exchange of a session, keeping count of its open requests (a held SSE stream is one). */
function serve(session: Session, req: IncomingMessage, res: ServerResponse): Promise<void> {
  session.open++;
  res.once('close', () => {
    session.open--;
    session.lastSeen = Date.now();
  });
  return session.transport.handleRequest(req, res);
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** True for hosts that only this machine can reach. */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK.has(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** A running HTTP listener. */
export interface HttpListener {
  /** The URL clients connect to (with the real port when 0 was asked). */
  readonly url: URL;
  /** Stops accepting, ends every session and its server connection. */
  close(): Promise<void>;
}

function reject(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

/** Starts listening at `url` (`http://127.0.0.1:PORT/path`). */
export async function listenHttp(
  url: URL,
  target: ServerTarget,
  gate: PolicyGate,
  options: { allowNonLoopback?: boolean; onerror?: (e: Error) => void; relay?: RelayOptions } = {},
): Promise<HttpListener> {
  if (url.protocol !== 'http:')
    throw new McpPolicyError('usage', `--listen must be stdio or an http:// URL, not "${url.href}"`);
  const loopback = isLoopbackHost(url.hostname);
  if (!loopback && options.allowNonLoopback !== true) {
    throw new McpPolicyError(
      'usage',
      `refusing to listen on "${url.hostname}": not a loopback address (add --allow-non-loopback to accept it)`,
    );
  }
  const sessions = new Map<string, Session>();
  const sweep = setInterval(() => {
    const cutoff = Date.now() - HTTP_LIMITS.sessionIdleMs;
    for (const s of sessions.values()) if (s.open === 0 && s.lastSeen < cutoff) void s.relay.close();
  }, 60_000).unref();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://host').pathname;
    if (path !== url.pathname) return reject(res, 404, `no MCP endpoint at "${path}"`);
    if (loopback) {
      // A page on another site resolving its name to 127.0.0.1 must not reach the proxy.
      const host = new URL(`http://${req.headers.host ?? ''}`).hostname;
      const origin = req.headers.origin;
      if (!isLoopbackHost(host)) return reject(res, 403, `host "${host}" is not allowed`);
      if (origin !== undefined && origin !== 'null' && !isLoopbackHost(new URL(origin).hostname)) {
        return reject(res, 403, `origin "${origin}" is not allowed`);
      }
    }
    const sid = req.headers['mcp-session-id'];
    if (typeof sid === 'string') {
      const session = sessions.get(sid);
      if (!session) return reject(res, 404, 'session not found');
      return serve(session, req, res);
    }
    if (req.method !== 'POST') return reject(res, 400, 'no session: start one with an initialize request');
    if (sessions.size >= HTTP_LIMITS.maxSessions) return reject(res, 503, 'too many sessions');
    const verdict = await gate.checkServer('session');
    if (!verdict.allowed) return reject(res, 403, verdict.reason);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      maxRequestBodySize: HTTP_LIMITS.maxBodyBytes,
      onsessioninitialized: (id) => void sessions.set(id, session),
    });
    const relay = new Relay(transport, serverTransport(target), gate, options.relay);
    const session: Session = { transport, relay, open: 0, lastSeen: Date.now() };
    relay.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
    };
    if (options.onerror) relay.onerror = options.onerror;
    await relay.start();
    await serve(session, req, res);
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
  return {
    url: actual,
    close: async () => {
      clearInterval(sweep);
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.allSettled([...sessions.values()].map((s) => s.relay.close()));
      server.closeAllConnections();
      await closing;
    },
  };
}
