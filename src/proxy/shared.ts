/**
 * One upstream MCP session shared by many client sessions (`--upstream-sharing
 * shared`), for servers that keep no per-client state: one child process
 * instead of one per session. Each client session gets a {@link Transport}
 * that looks to its relay like a server of its own, so policy and listing
 * filters stay per session (each has its own principal); underneath, request
 * ids and progress tokens are rewritten so that answers, progress and
 * cancellations reach the session they belong to and no other.
 *
 * What the server sends on its own is routed by what it names: list changes
 * go to every session, `resources/updated` to the sessions subscribed to that
 * resource, progress to the session whose request it is about. A server
 * request (sampling, elicitation, roots) or log message names no session, so
 * it goes to the one session with a request in flight; when that is not
 * exactly one, the request is answered with an error here and a log message
 * is dropped, because guessing would show one user another's traffic.
 */
import { type Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode as RpcCode,
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  LATEST_PROTOCOL_VERSION,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { type ErrorCode } from '../core/errors.js';

/** How the sessions of an HTTP listener reach the server: a server session (a child process) each, or one for all. */
export type UpstreamSharing = 'session' | 'shared';

/** The sharing modes, for flags and config files. */
export const UPSTREAM_SHARING: readonly UpstreamSharing[] = ['session', 'shared'];

/** Limits of a shared upstream. */
export const SHARED_LIMITS = {
  /** The first restart after a crash waits this long; each crash in a row doubles it, up to `restartMaxMs`. */
  restartBaseMs: 250,
  restartMaxMs: 30_000,
  /** A server that ran this long before it crashed starts over from `restartBaseMs`. */
  stableMs: 60_000,
  /** How long the server may take to answer the proxy's own `initialize` (and other own requests). */
  ownRequestTimeoutMs: 30_000,
} as const;

/** Log levels in order of severity (RFC 5424, as MCP names them). */
const LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

/** Notifications every session gets: they say what the server offers, which is the same for all. */
const BROADCAST = new Set([
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/list_changed',
]);

const TASK_METHODS = new Set(['tasks/get', 'tasks/result', 'tasks/cancel']);

/** Options of a {@link SharedUpstream}. */
export interface SharedUpstreamOptions {
  /** The proxy's name and version, as the client the server sees. */
  readonly clientInfo: { readonly name: string; readonly version: string };
  /** Problems that do not end anything (a crash, a message with nowhere to go). */
  readonly onerror?: (error: Error) => void;
  /** Told every time the server is started again after it went away. */
  readonly onrestart?: () => void;
  /** With no session attached for this long, the server is stopped (and started again by the next session). */
  readonly idleMs?: number;
  /** See {@link SHARED_LIMITS}. */
  readonly restartBaseMs?: number;
  readonly restartMaxMs?: number;
  readonly ownRequestTimeoutMs?: number;
}

/** What the server answered the proxy's `initialize`. */
type Initialized = Record<string, unknown> & { protocolVersion: string };

/** A client request forwarded under an id of the upstream's own. */
interface Forwarded {
  readonly link: Link;
  readonly id: RequestId;
  readonly method: string;
  readonly token?: string | number;
  /** The resource of a forwarded subscribe, dropped from the session's subscriptions if the server refuses it. */
  readonly subscribe?: string;
}

interface Own {
  resolve(result: Record<string, unknown>): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function isId(value: unknown): value is RequestId {
  return typeof value === 'string' || typeof value === 'number';
}

function errorMessage(id: RequestId, code: number, message: string, data?: ErrorCode): JSONRPCMessage {
  return { jsonrpc: '2.0', id, error: { code, message, ...(data !== undefined && { data: { code: data } }) } };
}

/** One client session's view of the shared server. */
class Link implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** The session's requests forwarded now: its id to the upstream's. */
  readonly ids = new Map<RequestId, number>();
  readonly subscriptions = new Set<string>();
  readonly tasks = new Set<string>();
  /** The least severe log level the session asked for; none asked means every message. */
  level = 0;
  closed = false;

  constructor(private readonly upstream: SharedUpstream) {}

  start(): Promise<void> {
    return Promise.resolve();
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the session is closed'));
    return this.upstream.fromClient(this, message);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.upstream.detach(this);
    this.onclose?.();
  }

  deliver(message: JSONRPCMessage): void {
    if (!this.closed) this.onmessage?.(message);
  }
}

/** The shared server and the sessions attached to it. */
export class SharedUpstream {
  private transport: Transport | undefined;
  private ready: Promise<Initialized> | undefined;
  /** Live children (or connections): each from its start until it is known to be gone. */
  private readonly alive = new Set<Transport>();
  /** A deliberate stop under way; a start waits for it, so at most one child lives at a time. */
  private stopping: Promise<void> | undefined;
  private startedAt = 0;
  private crashes = 0;
  private notBefore = 0;
  private restartCount = 0;
  private closing = false;
  /** The server went away on its own since it was last started. */
  private crashed = false;
  private nextId = 0;
  private readonly links = new Set<Link>();
  private readonly forwarded = new Map<number, Forwarded>();
  /** Server requests handed to a session, by the server's id. */
  private readonly serverRequests = new Map<RequestId, Link>();
  private readonly own = new Map<string, Own>();
  private capabilities: Record<string, unknown> | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Ends the wait before a restart now, when one is under way. */
  private wake: (() => void) | undefined;
  private readonly restartBaseMs: number;
  private readonly restartMaxMs: number;
  private readonly ownTimeoutMs: number;

  constructor(
    private readonly connect: () => Transport,
    private readonly options: SharedUpstreamOptions,
  ) {
    this.restartBaseMs = options.restartBaseMs ?? SHARED_LIMITS.restartBaseMs;
    this.restartMaxMs = options.restartMaxMs ?? SHARED_LIMITS.restartMaxMs;
    this.ownTimeoutMs = options.ownRequestTimeoutMs ?? SHARED_LIMITS.ownRequestTimeoutMs;
  }

  /** Live server processes (or connections): 0 or 1. */
  get children(): number {
    return this.alive.size;
  }

  /** Sessions attached now. */
  get sessions(): number {
    return this.links.size;
  }

  /** Times the server was started again after it went away. */
  get restarts(): number {
    return this.restartCount;
  }

  /** A transport for a new client session; the server is started by the session's `initialize`, not here. */
  attach(): Transport {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const link = new Link(this);
    this.links.add(link);
    return link;
  }

  /** Stops the server and waits for it to be gone; sessions still attached get errors for what they wait for. */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.idleTimer);
    this.wake?.();
    await this.stopServer();
  }

  /** @internal A message from a client session's relay. */
  async fromClient(link: Link, message: JSONRPCMessage): Promise<void> {
    if (isJSONRPCRequest(message)) return this.clientRequest(link, message);
    if (isJSONRPCNotification(message)) {
      switch (message.method) {
        // The server got its own at the shared initialization; roots are each client's, never the shared server's.
        case 'notifications/initialized':
        case 'notifications/roots/list_changed':
          return;
        case 'notifications/cancelled': {
          const id = record(message.params)?.requestId;
          const upstreamId = isId(id) ? link.ids.get(id) : undefined;
          if (upstreamId === undefined) return;
          // Whatever the server still answers has no session waiting for it.
          this.settle(upstreamId);
          return this.toServer({ ...message, params: { ...message.params, requestId: upstreamId } });
        }
        default:
          return this.toServer(message);
      }
    }
    // An answer to a server request: only from the session it was handed to.
    const id = (message as { id?: unknown }).id;
    if (!isId(id) || this.serverRequests.get(id) !== link) {
      return this.fail(new Error('dropped a client answer to a server request not addressed to its session'));
    }
    this.serverRequests.delete(id);
    return this.toServer(message);
  }

  private async clientRequest(link: Link, message: JSONRPCRequest): Promise<void> {
    const { id, method } = message;
    const params = record(message.params) ?? {};
    const answer = (result: Record<string, unknown>): void => link.deliver({ jsonrpc: '2.0', id, result });
    switch (method) {
      case 'initialize': {
        this.capabilities ??= record(params.capabilities) ?? {};
        try {
          const result = await this.ensure();
          // The server speaks one version to the proxy; a client asking another is offered that one, as MCP asks.
          return answer({ ...result });
        } catch (e) {
          return link.deliver(
            errorMessage(
              id,
              RpcCode.InternalError,
              `cannot start the server: ${(e as Error).message}`,
              'server_failed',
            ),
          );
        }
      }
      case 'logging/setLevel': {
        // One server, many sessions: each session's level filters what it is sent, the server keeps logging all.
        const level = LEVELS.indexOf(String(params.level));
        if (level < 0) return link.deliver(errorMessage(id, RpcCode.InvalidParams, 'unknown log level'));
        link.level = level;
        return answer({});
      }
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        const uri = params.uri;
        if (typeof uri !== 'string') break;
        const others = [...this.links].some((l) => l !== link && l.subscriptions.has(uri));
        if (method === 'resources/subscribe') {
          const already = link.subscriptions.has(uri);
          link.subscriptions.add(uri);
          // The server needs to hear of a resource once, whoever asks.
          if (others || already) return answer({});
          return this.forward(link, message, { subscribe: uri });
        }
        link.subscriptions.delete(uri);
        if (others) return answer({});
        return this.forward(link, message);
      }
      case 'tasks/list':
        return this.forward(link, message);
      default:
        if (TASK_METHODS.has(method) && !link.tasks.has(String(params.taskId))) {
          // Another session's task is as unknown to this one as a task that never was.
          return link.deliver(errorMessage(id, RpcCode.InvalidParams, 'no such task in this session'));
        }
    }
    return this.forward(link, message);
  }

  private async forward(link: Link, message: JSONRPCRequest, extra: { subscribe?: string } = {}): Promise<void> {
    const { id, method } = message;
    try {
      await this.ensure();
    } catch (e) {
      return link.deliver(
        errorMessage(id, RpcCode.InternalError, `cannot start the server: ${(e as Error).message}`, 'server_failed'),
      );
    }
    if (link.closed) return;
    const upstreamId = ++this.nextId;
    const meta = record(record(message.params)?._meta);
    const token = meta?.progressToken;
    const params =
      isId(token) && meta !== undefined
        ? { ...message.params, _meta: { ...meta, progressToken: `p${upstreamId}` } }
        : message.params;
    this.forwarded.set(upstreamId, {
      link,
      id,
      method,
      ...(isId(token) && { token }),
      ...(extra.subscribe !== undefined && { subscribe: extra.subscribe }),
    });
    link.ids.set(id, upstreamId);
    try {
      await this.toServer({ ...message, id: upstreamId, ...(params !== undefined && { params }) });
    } catch (e) {
      this.settle(upstreamId);
      link.deliver(
        errorMessage(id, RpcCode.InternalError, `cannot reach the server: ${(e as Error).message}`, 'server_failed'),
      );
    }
  }

  /** Forgets a forwarded request; returns what it was. */
  private settle(upstreamId: number): Forwarded | undefined {
    const entry = this.forwarded.get(upstreamId);
    if (entry === undefined) return undefined;
    this.forwarded.delete(upstreamId);
    entry.link.ids.delete(entry.id);
    return entry;
  }

  private fromServer(message: JSONRPCMessage): void {
    if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
      const id = message.id;
      if (typeof id === 'string') {
        const own = this.own.get(id);
        if (own === undefined) return this.fail(new Error('dropped a server answer to no request in flight'));
        this.own.delete(id);
        clearTimeout(own.timer);
        if (isJSONRPCResultResponse(message)) own.resolve(message.result as Record<string, unknown>);
        else own.reject(new Error(message.error.message));
        return;
      }
      // A request cancelled, or of a session gone: nobody waits for it.
      const entry = typeof id === 'number' ? this.settle(id) : undefined;
      if (entry === undefined) return;
      const { link } = entry;
      if (isJSONRPCResultResponse(message)) {
        const result = message.result as Record<string, unknown>;
        const task = record(result.task)?.taskId;
        if (typeof task === 'string') link.tasks.add(task);
        if (entry.method === 'tasks/list' && Array.isArray(result.tasks)) {
          const tasks = result.tasks.filter((t) => link.tasks.has(String(record(t)?.taskId)));
          return link.deliver({ ...message, id: entry.id, result: { ...result, tasks } });
        }
      } else if (entry.subscribe !== undefined) {
        link.subscriptions.delete(entry.subscribe);
      }
      return link.deliver({ ...message, id: entry.id });
    }
    if (isJSONRPCRequest(message)) {
      if (message.method === 'ping') {
        void this.toServer({ jsonrpc: '2.0', id: message.id, result: {} }).catch((e: unknown) => this.fail(e));
        return;
      }
      const link = this.soleBusy();
      if (link === undefined) {
        const busy = [...this.links].filter((l) => l.ids.size > 0).length;
        const why =
          busy === 0 ? 'no client session has a request in flight' : `${busy} client sessions have requests in flight`;
        void this.toServer(
          errorMessage(
            message.id,
            RpcCode.InternalError,
            `the proxy shares this server among its client sessions and cannot tell which one "${message.method}" is for: ${why}`,
            'method_refused',
          ),
        ).catch((e: unknown) => this.fail(e));
        return;
      }
      this.serverRequests.set(message.id, link);
      return link.deliver(message);
    }
    if (!isJSONRPCNotification(message)) return;
    const params = record(message.params);
    if (BROADCAST.has(message.method)) {
      for (const link of this.links) link.deliver(message);
      return;
    }
    switch (message.method) {
      case 'notifications/progress': {
        const token = params?.progressToken;
        const upstreamId = typeof token === 'string' && /^p\d+$/.test(token) ? Number(token.slice(1)) : undefined;
        const entry = upstreamId === undefined ? undefined : this.forwarded.get(upstreamId);
        if (entry?.token === undefined) return;
        return entry.link.deliver({ ...message, params: { ...params, progressToken: entry.token } });
      }
      case 'notifications/cancelled': {
        const id = params?.requestId;
        const link = isId(id) ? this.serverRequests.get(id) : undefined;
        if (link === undefined || !isId(id)) return;
        this.serverRequests.delete(id);
        return link.deliver(message);
      }
      case 'notifications/resources/updated': {
        const uri = params?.uri;
        for (const link of this.links)
          if (typeof uri === 'string' && link.subscriptions.has(uri)) link.deliver(message);
        return;
      }
      case 'notifications/tasks/status': {
        const task = String(params?.taskId);
        for (const link of this.links) if (link.tasks.has(task)) link.deliver(message);
        return;
      }
      case 'notifications/message': {
        const link = this.soleBusy();
        const level = LEVELS.indexOf(String(params?.level));
        if (link !== undefined && level >= link.level) link.deliver(message);
        return;
      }
      default: {
        // A notification of a kind the proxy cannot route goes where a server request would, or nowhere.
        this.soleBusy()?.deliver(message);
      }
    }
  }

  /** The one session with requests in flight, when there is exactly one. */
  private soleBusy(): Link | undefined {
    let found: Link | undefined;
    for (const link of this.links) {
      if (link.ids.size === 0) continue;
      if (found !== undefined) return undefined;
      found = link;
    }
    return found;
  }

  /** @internal A client session ended: its requests are cancelled upstream, its subscriptions dropped. */
  async detach(link: Link): Promise<void> {
    this.links.delete(link);
    const work: Promise<unknown>[] = [];
    for (const upstreamId of [...link.ids.values()]) {
      this.settle(upstreamId);
      work.push(
        this.toServer({
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId: upstreamId, reason: 'the client session ended' },
        }),
      );
    }
    for (const [id, owner] of this.serverRequests) {
      if (owner !== link) continue;
      this.serverRequests.delete(id);
      work.push(this.toServer(errorMessage(id, RpcCode.InternalError, 'the client session ended', 'method_refused')));
    }
    for (const uri of link.subscriptions) {
      if (this.transport !== undefined && ![...this.links].some((l) => l.subscriptions.has(uri))) {
        // Not waited for: a session's end must not hang on a server slow to answer.
        void this.ask('resources/unsubscribe', { uri }).catch((e: unknown) => this.fail(e));
      }
    }
    link.subscriptions.clear();
    await Promise.allSettled(work);
    if (this.links.size === 0 && this.options.idleMs !== undefined && !this.closing) {
      clearTimeout(this.idleTimer);
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        if (this.links.size === 0) void this.stopServer();
      }, this.options.idleMs).unref();
    }
  }

  /** The server's `initialize` answer, starting (or restarting, after the backoff) the server if needed. */
  private ensure(): Promise<Initialized> {
    if (this.closing) return Promise.reject(new Error('the proxy is shutting down'));
    this.ready ??= this.start().catch((e: unknown) => {
      this.ready = undefined;
      throw e;
    });
    return this.ready;
  }

  private async start(): Promise<Initialized> {
    const wait = this.notBefore - Date.now();
    if (wait > 0) {
      // close() cuts the wait short, so the requests waiting on it are answered and no timer outlives the proxy.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => this.wake?.(), wait);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = undefined;
          resolve();
        };
      });
    }
    await this.stopping;
    if (this.closing) throw new Error('the proxy is shutting down');
    const restart = this.crashed;
    const transport = this.connect();
    this.transport = transport;
    this.alive.add(transport);
    this.startedAt = Date.now();
    transport.onmessage = (m) => {
      if (this.transport === transport) this.fromServer(m);
    };
    transport.onerror = (e) => this.fail(e);
    transport.onclose = () => {
      this.alive.delete(transport);
      this.ended(transport);
    };
    try {
      await transport.start();
      const capabilities = { ...this.capabilities };
      // Roots belong to each client; the shared server works with what it was configured with.
      delete capabilities.roots;
      const result = await this.ask('initialize', {
        protocolVersion: LATEST_PROTOCOL_VERSION,
        capabilities,
        clientInfo: { ...this.options.clientInfo },
      });
      if (typeof result.protocolVersion !== 'string')
        throw new Error('the server answered initialize without a version');
      const version = result.protocolVersion;
      transport.setProtocolVersion?.(version);
      await transport.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      if (restart) {
        this.crashed = false;
        this.restartCount++;
        this.options.onrestart?.();
        // The sessions' subscriptions survive the server they were made with.
        const uris = new Set([...this.links].flatMap((l) => [...l.subscriptions]));
        for (const uri of uris) void this.ask('resources/subscribe', { uri }).catch((e: unknown) => this.fail(e));
      }
      return { ...result, protocolVersion: version };
    } catch (e) {
      // A server that went away on its own was counted as a crash when it did; only one still there is stopped here.
      if (this.transport === transport) {
        await this.stopServer();
        this.backoff();
      }
      throw e;
    }
  }

  /** The server went away: whatever waited for it is answered with an error, and the next request restarts it. */
  private ended(transport: Transport, deliberate = false): void {
    if (this.transport !== transport) return;
    this.transport = undefined;
    this.ready = undefined;
    if (!deliberate && !this.closing) {
      this.crashed = true;
      this.fail(new Error('the shared server exited; it is started again for the next request'));
      this.backoff();
    }
    for (const own of this.own.values()) {
      clearTimeout(own.timer);
      own.reject(new Error('the server closed the connection'));
    }
    this.own.clear();
    for (const upstreamId of [...this.forwarded.keys()]) {
      const entry = this.settle(upstreamId)!;
      entry.link.deliver(
        errorMessage(
          entry.id,
          RpcCode.InternalError,
          'the server closed the connection before it answered',
          'server_failed',
        ),
      );
    }
    this.serverRequests.clear();
    for (const link of this.links) link.tasks.clear();
  }

  private backoff(): void {
    const stable = Date.now() - this.startedAt >= SHARED_LIMITS.stableMs;
    this.crashes = stable ? 1 : this.crashes + 1;
    this.notBefore = Date.now() + Math.min(this.restartBaseMs * 2 ** (this.crashes - 1), this.restartMaxMs);
  }

  private async stopServer(): Promise<void> {
    const transport = this.transport;
    if (transport === undefined) return this.stopping;
    this.ended(transport, true);
    const stop = async (): Promise<void> => {
      const server = transport as Transport & { terminateSession?: () => Promise<void>; sessionId?: string };
      if (typeof server.terminateSession === 'function' && server.sessionId !== undefined) {
        await server.terminateSession().catch((e: unknown) => this.fail(e));
      }
      await transport.close().catch((e: unknown) => this.fail(e));
      this.alive.delete(transport);
    };
    const stopping = stop().finally(() => {
      if (this.stopping === stopping) this.stopping = undefined;
    });
    this.stopping = stopping;
    return stopping;
  }

  /** The proxy's own request to the server; its answer never reaches a client. */
  private ask(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = `mcp-policy/${method}/${++this.nextId}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.own.delete(id);
        reject(new Error(`the server did not answer ${method} in ${this.ownTimeoutMs / 1000} s`));
      }, this.ownTimeoutMs);
      this.own.set(id, { resolve, reject, timer });
      this.toServer({ jsonrpc: '2.0', id, method, params }).catch((e: unknown) => {
        clearTimeout(timer);
        this.own.delete(id);
        reject(e instanceof Error ? e : new Error(String(e)));
      });
    });
  }

  private toServer(message: JSONRPCMessage): Promise<void> {
    const transport = this.transport;
    if (transport === undefined) return Promise.reject(new Error('the server is not running'));
    return transport.send(message);
  }

  private fail(e: unknown): void {
    this.options.onerror?.(e instanceof Error ? e : new Error(String(e)));
  }
}
