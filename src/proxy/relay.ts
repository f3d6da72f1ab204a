/**
 * The proxy's core: relays JSON-RPC messages between a client transport and
 * a server transport, unchanged except where policy applies. Tool and prompt
 * listings (and, under a version 2 policy, resource and template listings)
 * coming back are filtered; tool calls, prompt fetches, resource reads and
 * subscriptions, and completions going out are checked first and, when
 * denied, answered here so the server never sees them. Each client request is
 * decided for the principal the transport authenticated it as. A client message reaches the server only when
 * its method is governed or passed by design (`methods.ts`); an answer reaches
 * the client only for a request it has in flight. The server's own requests
 * and notifications pass through to the client.
 */
import { randomUUID } from 'node:crypto';
import { type Transport, type TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode as RpcCode,
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { type ErrorCode, McpPolicyError } from '../core/errors.js';
import { type ProxyStage } from '../host/decision-log.js';
import { type Principal } from '../policy/model.js';
import {
  annotationsOf,
  type Listed,
  type PolicyGate,
  type ResourceKey,
  type Verdict,
  type WORK_TOO_LARGE,
} from './enforce.js';
import { forwardsNotification, forwardsRequest } from './methods.js';

/**
 * The JSON-RPC error code of every denied request other than `tools/call`
 * (in the implementation-defined server error range, apart from the SDK's
 * -32000..-32002 and the specification's -32602 and -32601).
 */
export const POLICY_DENIED = -32003;

/** The shape a denial carries, in `structuredContent` of a denied tool call and `data` of every other denial. */
export interface DenialData {
  readonly reason: string;
  readonly rule: number | null;
  /** `work_too_large` when the proxy refused to decide a request that asks for too much work. */
  readonly code?: typeof WORK_TOO_LARGE;
}

/** The `_meta` key of a denied tool call's result, holding `{"denied": true, "reason", "rule"}`. */
export const DENIAL_META = 'io.github.mcp-policy/denial';

/** How long an upstream HTTP session may take to acknowledge its `DELETE` when a session ends. */
const TERMINATE_TIMEOUT_MS = 5_000;

/** Limits of one relayed session. */
export const RELAY_LIMITS = {
  /** How long the proxy waits for the server to answer a listing it asked for itself. */
  ownRequestTimeoutMs: 30_000,
  /** A server that paginates beyond this is not followed further (fail closed: the tool stays unknown). */
  maxPages: 100,
  /** Tools or prompts in one listing, all its pages together; past it the listing is refused. */
  maxListed: 10_000,
  /** Client requests waiting for the server; past it a request is refused. */
  maxInFlight: 1_000,
} as const;

/** Options of a relay. */
export interface RelayOptions {
  /** How long the proxy waits for its own requests to the server (default {@link RELAY_LIMITS}). */
  readonly ownRequestTimeoutMs?: number;
}

type ListingMethod = 'tools/list' | 'prompts/list' | 'resources/list' | 'resources/templates/list';
type Listing = { readonly method: ListingMethod; readonly firstPage: boolean; readonly principal?: Principal };

/** A client request the server has not answered yet. */
interface InFlight {
  readonly listing?: Listing;
}

/** The `extra.principal` a listener puts in the SDK's `authInfo` of each message it authenticated. */
export interface AuthExtra {
  readonly principal: Principal;
}

/** The principal a transport attached to a message (`authInfo.extra.principal`), if any. */
function principalOfMessage(extra: unknown): Principal | undefined {
  const principal = record(record(record(extra)?.authInfo)?.extra)?.principal;
  return record(principal) as Principal | undefined;
}

/** The listing entries and their key, per resource listing method. */
const RESOURCE_LISTINGS: Readonly<Record<string, { readonly field: string; readonly key: ResourceKey }>> = {
  'resources/list': { field: 'resources', key: 'uri' },
  'resources/templates/list': { field: 'resourceTemplates', key: 'uriTemplate' },
};

interface Pending {
  resolve(result: Record<string, unknown>): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** The SDK's stdio reader gives up on a message over its buffer and closes the connection. */
const OVERSIZED = /ReadBuffer exceeded maximum size of (\d+) bytes/;

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function listed(value: unknown): Listed[] {
  return Array.isArray(value) ? value.filter((v): v is Listed => typeof record(v)?.name === 'string') : [];
}

/** The object entries of a listing (resources and templates need no name to be decided). */
function entries(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter((v): v is Record<string, unknown> => record(v) !== undefined) : [];
}

/**
 * The arguments a prompt completion is decided with: those the client has
 * filled in (`context.arguments`) and the one being completed, as the
 * prompt would be asked for with them.
 */
function completionArguments(params: Record<string, unknown> | undefined): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>;
  const filled = record(record(params?.context)?.arguments);
  if (filled) for (const [k, v] of Object.entries(filled)) out[k] = v;
  const argument = record(params?.argument);
  if (typeof argument?.name === 'string') out[argument.name] = argument.value;
  return out;
}

function denialData(verdict: Verdict & { allowed: false }): DenialData {
  return {
    reason: verdict.policyReason ?? verdict.reason,
    rule: verdict.rule ?? null,
    ...(verdict.code !== undefined && { code: verdict.code }),
  };
}

/** Client input quoted in a message, cut short so an answer never echoes a large value. */
function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

/** The last page of a listing has no next cursor. */
function lastPage(result: Record<string, unknown>): boolean {
  return typeof result.nextCursor !== 'string';
}

/** Relays one MCP session between a client and a server under a policy. */
export class Relay {
  /** Fired once when either side closes. */
  onclose?: () => void;
  /** Transport and relay problems that do not end the session. */
  onerror?: (error: Error) => void;
  /** Set when the server ended the session (it exited, or broke the protocol); the client's requests were answered. */
  failure?: McpPolicyError;

  private readonly inFlight = new Map<RequestId, InFlight>();
  private readonly own = new Map<RequestId, Pending>();
  private readonly progress = new Map<string | number, RequestId>();
  private readonly tools = new Map<string, Listed>();
  private toolsKnown = false;
  private readonly ownPrefix = `mcp-policy/${randomUUID()}/`;
  private ownCount = 0;
  private fromClientQueue: Promise<void> = Promise.resolve();
  private fromServerQueue: Promise<void> = Promise.resolve();
  private closed = false;
  private serverFault: McpPolicyError | undefined;
  private initializeId: RequestId | undefined;
  private readonly ownRequestTimeoutMs: number;
  private draining = false;
  private drained: (() => void) | undefined;
  private serverGone = false;

  constructor(
    private readonly client: Transport,
    private readonly server: Transport,
    private readonly gate: PolicyGate,
    options: RelayOptions = {},
  ) {
    this.ownRequestTimeoutMs = options.ownRequestTimeoutMs ?? RELAY_LIMITS.ownRequestTimeoutMs;
  }

  /** Starts the server side first, so nothing the client sends is lost. */
  async start(): Promise<void> {
    // Each direction is handled in order, so a notification never overtakes the request it follows.
    this.client.onmessage = (m, extra) => {
      const principal = principalOfMessage(extra);
      this.fromClientQueue = this.fromClientQueue.then(() => this.fromClient(m, principal)).catch((e) => this.fail(e));
    };
    this.server.onmessage = (m) => {
      this.fromServerQueue = this.fromServerQueue.then(() => this.fromServer(m)).catch((e) => this.fail(e));
    };
    this.client.onclose = () => void this.close();
    // Answers the server sent before it went away are relayed before the rest are answered here.
    this.server.onclose = () => {
      this.fromServerQueue = this.fromServerQueue.then(() => this.serverEnded()).catch((e) => this.fail(e));
    };
    this.client.onerror = (e) => this.fail(e);
    this.server.onerror = (e) => {
      const oversized = OVERSIZED.exec(e.message);
      if (oversized) {
        const mib = Math.round(Number(oversized[1]) / (1024 * 1024));
        this.serverFault = new McpPolicyError('server_failed', `the server sent a message over ${mib} MiB`);
      }
      this.fail(e);
    };
    await this.server.start();
    await this.client.start();
  }

  /**
   * Closes both sides (idempotent). An upstream HTTP session is ended with
   * `DELETE` first, and a stdio server's process is stopped and waited for, so
   * nothing of the session outlives it.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.own.values()) {
      clearTimeout(p.timer);
      p.reject(new Error('the session closed'));
    }
    this.own.clear();
    this.drained?.();
    await Promise.allSettled([this.endServer(), this.client.close()]);
    this.onclose?.();
  }

  /** Requests of the client the server has not answered yet. */
  get pending(): number {
    return this.inFlight.size;
  }

  /**
   * Ends the session gracefully: new client requests are refused
   * (`shutting_down`), those in flight get the server's answer or, after
   * `graceMs`, a `shutting_down` error; then both sides close.
   */
  async shutdown(graceMs: number): Promise<void> {
    if (this.closed) return;
    this.draining = true;
    if (this.inFlight.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.drained = undefined;
    // Answers already received (and denials already decided) are relayed before the rest are refused.
    await Promise.all([this.fromServerQueue, this.fromClientQueue]);
    const waiting = [...this.inFlight.keys()];
    this.inFlight.clear();
    for (const id of waiting) {
      await this.refuse(
        id,
        RpcCode.InternalError,
        `the proxy is shutting down; the server did not answer within ${graceMs / 1000} s`,
        'shutting_down',
      ).catch((e: unknown) => this.fail(e));
    }
    await this.close();
  }

  private async endServer(): Promise<void> {
    const server = this.server as Transport & { terminateSession?: () => Promise<void> };
    if (!this.serverGone && typeof server.terminateSession === 'function' && server.sessionId !== undefined) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, TERMINATE_TIMEOUT_MS)));
      await Promise.race([server.terminateSession().catch((e: unknown) => this.fail(e)), deadline]);
      clearTimeout(timer);
    }
    await this.server.close();
  }

  /** The server went away on its own: every request still waiting gets an error, then the session ends. */
  private async serverEnded(): Promise<void> {
    this.serverGone = true;
    if (this.closed) return;
    this.failure = this.serverFault ?? new McpPolicyError('server_failed', 'the server closed the connection');
    const message = `${this.failure.message}; the session is closed`;
    const waiting = [...this.inFlight.keys()];
    this.inFlight.clear();
    for (const id of waiting) {
      await this.refuse(id, RpcCode.InternalError, message, 'server_failed').catch((e: unknown) => this.fail(e));
    }
    await this.close();
  }

  private fail(e: unknown): void {
    this.onerror?.(e instanceof Error ? e : new Error(String(e)));
  }

  private async fromClient(message: JSONRPCMessage, principal: Principal | undefined): Promise<void> {
    if (isJSONRPCRequest(message)) return this.clientRequest(message, principal);
    if (isJSONRPCNotification(message)) {
      if (!forwardsNotification(message.method)) {
        // A notification has no answer to carry a refusal; it is dropped, never forwarded.
        return this.fail(
          new Error(`dropped the client's notification ${quote(message.method)}: not one the proxy forwards`),
        );
      }
      if (message.method === 'notifications/cancelled') {
        // The server need not answer a cancelled request, so it stops waiting here too.
        const cancelled = record(message.params)?.requestId;
        if (typeof cancelled === 'string' || typeof cancelled === 'number') this.forget(cancelled);
      }
    }
    // Answers to the server's own requests (sampling, elicitation, roots) pass.
    await this.server.send(message);
  }

  private async clientRequest(message: JSONRPCRequest, principal: Principal | undefined): Promise<void> {
    const { id, method } = message;
    if (!forwardsRequest(method)) {
      return this.refuse(id, RpcCode.MethodNotFound, `method ${quote(method)} is not one the proxy forwards`);
    }
    if (this.draining) {
      return this.refuse(
        id,
        RpcCode.InternalError,
        'the proxy is shutting down; the session is closed',
        'shutting_down',
      );
    }
    if (this.inFlight.has(id)) {
      return this.refuse(id, RpcCode.InvalidRequest, `request id ${quote(String(id))} is already in flight`);
    }
    if (this.inFlight.size >= RELAY_LIMITS.maxInFlight) {
      return this.refuse(
        id,
        RpcCode.InvalidRequest,
        `more than ${RELAY_LIMITS.maxInFlight} requests in flight; wait for answers`,
      );
    }
    const params = record(message.params);
    let entry: InFlight = {};
    // Registered before its check, so a server that goes away meanwhile still gets it answered.
    this.inFlight.set(id, entry);
    const verdict = await this.check(method, params, principal);
    if (verdict.deny) {
      this.forget(id);
      return this.toClient(verdict.deny(id));
    }
    if (verdict.filter) {
      entry = {
        listing: {
          method: method as ListingMethod,
          firstPage: params?.cursor === undefined,
          ...(principal !== undefined && { principal }),
        },
      };
      this.inFlight.set(id, entry);
    }
    if (method === 'initialize') this.initializeId = id;
    const token = record(params?._meta)?.progressToken;
    if (typeof token === 'string' || typeof token === 'number') this.progress.set(token, id);
    try {
      await this.server.send(message);
    } catch (e) {
      this.forget(id);
      await this.refuse(id, RpcCode.InternalError, `cannot reach the server: ${(e as Error).message}`, 'server_failed');
    }
  }

  /**
   * The policy's say on a governed request before it is forwarded: `deny`
   * builds the answer the client gets; `filter` asks for the answer (a
   * listing) to be filtered on its way back.
   */
  private async check(
    method: string,
    params: Record<string, unknown> | undefined,
    principal: Principal | undefined,
  ): Promise<{ deny?: (id: RequestId) => JSONRPCMessage; filter?: true }> {
    const denied = (verdict: Verdict) =>
      verdict.allowed
        ? {}
        : {
            deny: (id: RequestId): JSONRPCMessage => ({
              jsonrpc: '2.0',
              id,
              error: { code: POLICY_DENIED, message: verdict.reason, data: denialData(verdict) },
            }),
          };
    // A malformed request is the client's mistake, not a denial: it keeps the invalid-params code.
    const malformed = (what: string) => ({
      deny: (id: RequestId): JSONRPCMessage => ({
        jsonrpc: '2.0',
        id,
        error: { code: RpcCode.InvalidParams, message: what },
      }),
    });
    const prompt = async (name: unknown, what: string, args: unknown, stage: ProxyStage) =>
      typeof name === 'string'
        ? denied(await this.gate.checkPrompt(name, { principal, arguments: args }, stage))
        : malformed(what);
    const resource = async (uri: unknown, what: string, stage: ProxyStage) =>
      typeof uri === 'string' ? denied(await this.gate.checkResource(stage, uri, principal)) : malformed(what);
    switch (method) {
      case 'tools/call': {
        const name = params?.name;
        if (typeof name !== 'string') {
          return {
            deny: (id) => ({
              jsonrpc: '2.0',
              id,
              result: { content: [{ type: 'text', text: 'tools/call without a tool name' }], isError: true },
            }),
          };
        }
        const verdict = await this.gate.checkCall(name, await this.definition(name), {
          principal,
          arguments: params?.arguments,
          // The latest listing this session relayed; a tool never listed gets MCP's defaults.
          annotations: annotationsOf(this.tools.get(name)),
        });
        if (verdict.allowed) return {};
        // MCP prefers tool failures as results the model can see; the denial marks tell one from a tool's failure.
        const denial = { denied: true, ...denialData(verdict) };
        // Clients check structuredContent against a declared outputSchema even in an error result (the SDK's
        // Client throws on a mismatch), so such a tool's denial is marked in _meta only.
        const schema = this.tools.get(name)?.outputSchema !== undefined;
        return {
          deny: (id) => ({
            jsonrpc: '2.0',
            id,
            result: {
              content: [{ type: 'text', text: verdict.reason }],
              ...(!schema && { structuredContent: denial }),
              _meta: { [DENIAL_META]: denial },
              isError: true,
            },
          }),
        };
      }
      case 'prompts/get':
        return prompt(params?.name, 'prompts/get without a prompt name', params?.arguments, 'prompts/get');
      case 'completion/complete': {
        // Completing needs the prompt or resource: what is denied cannot be explored through its completions.
        const stage = 'completion/complete';
        const ref = record(params?.ref);
        if (ref?.type === 'ref/resource') {
          return resource(ref.uri, 'completion/complete without a resource uri', stage);
        }
        if (ref?.type === 'ref/prompt') {
          return prompt(ref.name, 'completion/complete without a prompt name', completionArguments(params), stage);
        }
        return prompt(undefined, 'completion/complete without a prompt or resource reference', undefined, stage);
      }
      case 'resources/list':
      case 'resources/templates/list':
        // Version 2 decides each entry of the answer; version 1 has only the server's load to go by.
        if ((await this.gate.version()) === 2) return { filter: true };
        return denied(await this.gate.checkServer(method, principal));
      case 'resources/read':
      case 'resources/subscribe':
      case 'resources/unsubscribe':
        return resource(params?.uri, `${method} without a resource uri`, method);
      case 'tools/list':
      case 'prompts/list':
        return { filter: true };
      default:
        return {};
    }
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
      const waiting = this.inFlight.get(id);
      if (waiting === undefined) {
        // A second answer, or one to a request never sent, would reach the client unfiltered.
        return this.fail(new Error(`dropped the server's answer to ${quote(String(id))}: no such request in flight`));
      }
      this.forget(id);
      if (id === this.initializeId && isJSONRPCResultResponse(message)) {
        // A raw relay bypasses the SDK's Client, which would tell an HTTP transport the negotiated version.
        const version = message.result.protocolVersion;
        if (typeof version === 'string') this.server.setProtocolVersion?.(version);
      }
      if (waiting.listing && isJSONRPCResultResponse(message)) {
        return this.toClient(await this.filtered(waiting.listing, id, message.result));
      }
      return this.toClient(message);
    }
    if (isJSONRPCRequest(message)) this.gate.logServerRequest(message.method);
    if (isJSONRPCNotification(message)) {
      if (message.method === 'notifications/tools/list_changed') this.toolsKnown = false;
      const token = record(message.params)?.progressToken;
      const related = typeof token === 'string' || typeof token === 'number' ? this.progress.get(token) : undefined;
      return this.toClient(message, related === undefined ? undefined : { relatedRequestId: related });
    }
    return this.toClient(message);
  }

  private async filtered(listing: Listing, id: RequestId, result: Record<string, unknown>): Promise<JSONRPCMessage> {
    const resources = RESOURCE_LISTINGS[listing.method];
    const what = resources?.field ?? (listing.method === 'tools/list' ? 'tools' : 'prompts');
    const items = resources ? entries(result[what]) : listed(result[what]);
    const tooLarge = (count: number): JSONRPCMessage => ({
      jsonrpc: '2.0',
      id,
      error: {
        code: RpcCode.InternalError,
        message: `the server listed ${count} ${what}; the proxy decides at most ${RELAY_LIMITS.maxListed} in one listing`,
        data: { code: 'listing_too_large' },
      },
    });
    const { principal } = listing;
    if (resources) {
      if (items.length > RELAY_LIMITS.maxListed) return tooLarge(items.length);
      const kept = await this.gate.filterResources(listing.method, items, resources.key, principal);
      return { jsonrpc: '2.0', id, result: { ...result, [what]: kept } };
    }
    const named = items as Listed[];
    if (listing.method === 'prompts/list') {
      if (named.length > RELAY_LIMITS.maxListed) return tooLarge(named.length);
      return { jsonrpc: '2.0', id, result: { ...result, prompts: await this.gate.filterPrompts(named, principal) } };
    }
    const last = lastPage(result);
    const count = this.remember(named, listing.firstPage, last);
    if (count > RELAY_LIMITS.maxListed) return tooLarge(count);
    return { jsonrpc: '2.0', id, result: { ...result, tools: await this.gate.filterTools(named, last, principal) } };
  }

  /** Keeps the latest definitions for pin checks at calls; returns how many the listing holds so far. */
  private remember(tools: readonly Listed[], firstPage: boolean, last: boolean): number {
    if (firstPage) this.tools.clear();
    const count = this.tools.size + tools.length;
    if (count > RELAY_LIMITS.maxListed) {
      this.tools.clear();
      this.toolsKnown = false;
      return count;
    }
    for (const t of tools) this.tools.set(t.name, t);
    if (last) this.toolsKnown = true;
    return this.tools.size;
  }

  /**
   * The server's current definition of a tool, needed only to check pins:
   * when the last listing is stale or missing, or the first listing has not
   * been recorded yet, the proxy lists the tools itself.
   */
  private async definition(name: string): Promise<Listed | undefined> {
    const pins = this.gate.pins;
    if (!pins) return undefined;
    if (pins.recording || !this.toolsKnown || !this.tools.has(name)) {
      try {
        let cursor: unknown;
        for (let page = 0; page < RELAY_LIMITS.maxPages; page++) {
          const result = await this.ask('tools/list', cursor === undefined ? {} : { cursor });
          const tools = listed(result.tools);
          const last = lastPage(result);
          const count = this.remember(tools, page === 0, last);
          if (count > RELAY_LIMITS.maxListed) {
            throw new McpPolicyError(
              'listing_too_large',
              `the server listed ${count} tools; the proxy decides at most ${RELAY_LIMITS.maxListed}`,
            );
          }
          // The proxy's own listing may be the server's first: pinning records it like a client's.
          if (pins.recording) await this.gate.filterTools(tools, last);
          if (last) break;
          cursor = result.nextCursor;
        }
      } catch (e) {
        this.fail(e);
        return undefined;
      }
    }
    return this.toolsKnown ? this.tools.get(name) : undefined;
  }

  /** Sends the proxy's own request to the server; its answer never reaches the client. */
  private ask(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = `${this.ownPrefix}${++this.ownCount}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.own.delete(id);
        reject(new Error(`the server did not answer ${method} in ${this.ownRequestTimeoutMs / 1000} s`));
      }, this.ownRequestTimeoutMs);
      this.own.set(id, { resolve, reject, timer });
      this.server.send({ jsonrpc: '2.0', id, method, params }).catch((e: unknown) => {
        clearTimeout(timer);
        this.own.delete(id);
        reject(e instanceof Error ? e : new Error(String(e)));
      });
    });
  }

  private forget(id: RequestId): void {
    this.inFlight.delete(id);
    for (const [token, rid] of this.progress) if (rid === id) this.progress.delete(token);
    if (this.inFlight.size === 0) this.drained?.();
  }

  /** Answers a client request with a JSON-RPC error carrying the proxy's code. */
  private refuse(id: RequestId, rpcCode: number, message: string, code: ErrorCode = 'method_refused'): Promise<void> {
    return this.toClient({ jsonrpc: '2.0', id, error: { code: rpcCode, message, data: { code } } });
  }

  private async toClient(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.closed) return;
    await this.client.send(message, options);
  }
}
