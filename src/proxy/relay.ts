/**
 * The proxy's core: relays JSON-RPC messages between a client transport and
 * a server transport, unchanged except where policy applies. Tool and prompt
 * listings coming back are filtered; tool calls and prompt fetches going out
 * are checked first and, when denied, answered here so the server never sees
 * them. Everything else (resources, completion, logging, pings, progress,
 * cancellation, and the server's own sampling, elicitation and roots
 * requests) passes through in both directions.
 */
import { randomUUID } from 'node:crypto';
import { type Transport, type TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode,
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { type Listed, type PolicyGate } from './enforce.js';

/** How long the proxy waits for the server to answer a listing it asked for itself. */
const OWN_REQUEST_TIMEOUT_MS = 30_000;
/** A server that paginates beyond this is not followed further (fail closed: the tool stays unknown). */
const MAX_PAGES = 100;

type Listing = { readonly method: 'tools/list' | 'prompts/list'; readonly firstPage: boolean };

interface Pending {
  resolve(result: Record<string, unknown>): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function listed(value: unknown): Listed[] {
  return Array.isArray(value) ? value.filter((v): v is Listed => typeof record(v)?.name === 'string') : [];
}

/** Relays one MCP session between a client and a server under a policy. */
export class Relay {
  /** Fired once when either side closes. */
  onclose?: () => void;
  /** Transport and relay problems that do not end the session. */
  onerror?: (error: Error) => void;

  private readonly listings = new Map<RequestId, Listing>();
  private readonly own = new Map<RequestId, Pending>();
  private readonly progress = new Map<string | number, RequestId>();
  private readonly tools = new Map<string, Listed>();
  private toolsKnown = false;
  private readonly ownPrefix = `mcp-policy/${randomUUID()}/`;
  private ownCount = 0;
  private fromClientQueue: Promise<void> = Promise.resolve();
  private fromServerQueue: Promise<void> = Promise.resolve();
  private closed = false;
  private initializeId: RequestId | undefined;

  constructor(
    private readonly client: Transport,
    private readonly server: Transport,
    private readonly gate: PolicyGate,
  ) {}

  /** Starts the server side first, so nothing the client sends is lost. */
  async start(): Promise<void> {
    // Each direction is handled in order, so a notification never overtakes the request it follows.
    this.client.onmessage = (m) => {
      this.fromClientQueue = this.fromClientQueue.then(() => this.fromClient(m)).catch((e) => this.fail(e));
    };
    this.server.onmessage = (m) => {
      this.fromServerQueue = this.fromServerQueue.then(() => this.fromServer(m)).catch((e) => this.fail(e));
    };
    this.client.onclose = () => void this.close();
    this.server.onclose = () => void this.close();
    this.client.onerror = (e) => this.fail(e);
    this.server.onerror = (e) => this.fail(e);
    await this.server.start();
    await this.client.start();
  }

  /** Closes both sides (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.own.values()) {
      clearTimeout(p.timer);
      p.reject(new Error('the session closed'));
    }
    this.own.clear();
    await Promise.allSettled([this.server.close(), this.client.close()]);
    this.onclose?.();
  }

  private fail(e: unknown): void {
    this.onerror?.(e instanceof Error ? e : new Error(String(e)));
  }

  private async fromClient(message: JSONRPCMessage): Promise<void> {
    if (isJSONRPCRequest(message)) {
      const params = record(message.params);
      const token = record(params?._meta)?.progressToken;
      if (typeof token === 'string' || typeof token === 'number') this.progress.set(token, message.id);
      switch (message.method) {
        case 'tools/call': {
          const name = params?.name;
          const verdict =
            typeof name === 'string'
              ? await this.gate.checkCall(name, await this.definition(name))
              : { allowed: false as const, reason: 'tools/call without a tool name' };
          if (!verdict.allowed) {
            this.forget(message.id);
            return this.toClient({
              jsonrpc: '2.0',
              id: message.id,
              result: { content: [{ type: 'text', text: verdict.reason }], isError: true },
            });
          }
          break;
        }
        case 'prompts/get': {
          const name = params?.name;
          const verdict =
            typeof name === 'string'
              ? await this.gate.checkPrompt(name)
              : { allowed: false as const, reason: 'prompts/get without a prompt name' };
          if (!verdict.allowed) {
            this.forget(message.id);
            return this.toClient({
              jsonrpc: '2.0',
              id: message.id,
              error: { code: ErrorCode.InvalidParams, message: verdict.reason },
            });
          }
          break;
        }
        case 'initialize':
          this.initializeId = message.id;
          break;
        case 'tools/list':
        case 'prompts/list':
          this.listings.set(message.id, { method: message.method, firstPage: params?.cursor === undefined });
          break;
      }
    }
    await this.server.send(message);
  }

  private async fromServer(message: JSONRPCMessage): Promise<void> {
    if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
      const id = message.id;
      if (id === undefined) return this.toClient(message);
      const mine = this.own.get(id);
      if (mine) {
        this.own.delete(id);
        clearTimeout(mine.timer);
        if (isJSONRPCResultResponse(message)) mine.resolve(message.result as Record<string, unknown>);
        else mine.reject(new Error(message.error.message));
        return;
      }
      if (id === this.initializeId && isJSONRPCResultResponse(message)) {
        // A raw relay bypasses the SDK's Client, which would tell an HTTP transport the negotiated version.
        const version = message.result.protocolVersion;
        if (typeof version === 'string') this.server.setProtocolVersion?.(version);
      }
      const listing = this.listings.get(id);
      this.forget(id);
      if (listing && isJSONRPCResultResponse(message)) {
        return this.toClient({ ...message, result: await this.filtered(listing, message.result) });
      }
      return this.toClient(message);
    }
    if (isJSONRPCNotification(message)) {
      if (message.method === 'notifications/tools/list_changed') this.toolsKnown = false;
      const token = record(message.params)?.progressToken;
      const related = typeof token === 'string' || typeof token === 'number' ? this.progress.get(token) : undefined;
      return this.toClient(message, related === undefined ? undefined : { relatedRequestId: related });
    }
    return this.toClient(message);
  }

  private async filtered(listing: Listing, result: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (listing.method === 'prompts/list') {
      return { ...result, prompts: await this.gate.filterPrompts(listed(result.prompts)) };
    }
    const tools = listed(result.tools);
    this.remember(tools, listing.firstPage, result.nextCursor === undefined);
    return { ...result, tools: await this.gate.filterTools(tools) };
  }

  private remember(tools: readonly Listed[], firstPage: boolean, lastPage: boolean): void {
    if (firstPage) this.tools.clear();
    for (const t of tools) this.tools.set(t.name, t);
    if (lastPage) this.toolsKnown = true;
  }

  /**
   * The server's current definition of a tool, needed only to check pins:
   * when the last listing is stale or missing, the proxy lists the tools itself.
   */
  private async definition(name: string): Promise<Listed | undefined> {
    const pins = this.gate.pins;
    if (!pins || pins.recording) return undefined;
    if (!this.toolsKnown || !this.tools.has(name)) {
      try {
        let cursor: unknown;
        for (let page = 0; page < MAX_PAGES; page++) {
          const result = await this.ask('tools/list', cursor === undefined ? {} : { cursor });
          cursor = result.nextCursor;
          this.remember(listed(result.tools), page === 0, cursor === undefined);
          if (cursor === undefined) break;
        }
      } catch (e) {
        this.fail(e);
        return undefined;
      }
    }
    return this.tools.get(name);
  }

  /** Sends the proxy's own request to the server; its answer never reaches the client. */
  private ask(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = `${this.ownPrefix}${++this.ownCount}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.own.delete(id);
        reject(new Error(`the server did not answer ${method} in ${OWN_REQUEST_TIMEOUT_MS / 1000} s`));
      }, OWN_REQUEST_TIMEOUT_MS);
      this.own.set(id, { resolve, reject, timer });
      this.server.send({ jsonrpc: '2.0', id, method, params }).catch((e: unknown) => {
        clearTimeout(timer);
        this.own.delete(id);
        reject(e instanceof Error ? e : new Error(String(e)));
      });
    });
  }

  private forget(id: RequestId): void {
    this.listings.delete(id);
    for (const [token, rid] of this.progress) if (rid === id) this.progress.delete(token);
  }

  private async toClient(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.closed) return;
    await this.client.send(message, options);
  }
}
