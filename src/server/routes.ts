/**
 * The HTTP endpoints: Docker's gateway protocol, OPA's REST data API for the
 * same bundle, health and metrics. Errors use each protocol's own shape —
 * `{"message"}` for the gateway, `{"code","message"}` for OPA clients — and
 * are short and free of internals (they reach MCP clients verbatim).
 */
import { type IncomingMessage, type ServerResponse } from 'node:http';
import { type BundleSlot, NO_BUNDLE_ERROR } from './active-bundle.js';
import {
  AUTHZEN_PATHS,
  AuthzenError,
  configuration,
  evaluate,
  evaluateMany,
  isAuthzenPath,
  requestId,
} from './authzen.js';
import { type Decider, type Item, WorkRefused } from './decisions.js';
import { gatewayDecision, gatewayRequest } from './gateway-protocol.js';
import { type ServeMetrics } from './metrics.js';

/** Request limits. */
export interface Limits {
  /** Largest request body, in bytes (413 beyond). */
  readonly maxBodyBytes: number;
  /** Most requests in one batch (413 beyond). */
  readonly maxBatch: number;
  /**
   * Most work one request may ask for, in rule checks: its requests times
   * what one costs on the active policy, more for long fields (413
   * `work_too_large` beyond). One request with short fields is always decided.
   */
  readonly maxWork: number;
  /** Most work admitted and not yet decided, across requests (429 `server_busy` beyond). */
  readonly maxPendingWork: number;
  /**
   * Most work one request of a body or batch may ask for when its fields are
   * long (413 `work_too_large` beyond): one decision cannot be sliced, so
   * this bounds how long one holds the event loop.
   */
  readonly maxItemWork: number;
}

/**
 * Default limits. 1,000,000 rule checks is a few seconds of deciding at
 * most: a 10,000-request batch on a policy whose requests each check up to 90
 * rules (the gateway's batches are hundreds of requests, on policies whose
 * index leaves a handful of candidates), or 100 requests on 10,000 rules
 * that no index narrows. 50,000 for one request is a tenth of a second or so:
 * a 65,536-character field on a policy whose requests check up to 87 rules,
 * or fields under 512 characters on 10,000 unindexed rules.
 */
export const DEFAULT_LIMITS: Limits = {
  maxBodyBytes: 1024 * 1024,
  maxBatch: 10_000,
  maxWork: 1_000_000,
  maxPendingWork: 4_000_000,
  maxItemWork: 50_000,
};

/** What the handler needs. */
export interface RouteContext {
  readonly slot: BundleSlot;
  readonly decider: Decider;
  readonly metrics: ServeMetrics;
  readonly limits: Limits;
  /** The `/metrics` text; by default this process's registry (workers answer for the cluster). */
  readonly metricsText?: () => Promise<string>;
  /** True once shutdown began: replies ask the client to close the connection. */
  readonly closing: () => boolean;
  /** Why the service cannot follow its sources right now (a lost watch); `/health` answers 500 with it. */
  readonly problem?: () => string | undefined;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown, ctx: RouteContext, type = 'application/json'): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(text),
  };
  if (ctx.closing()) headers.Connection = 'close';
  res.writeHead(status, headers);
  res.end(text);
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new HttpError(413, 'request_too_large', `request body exceeds ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        reject(new HttpError(413, 'request_too_large', `request body exceeds ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => reject(new HttpError(400, 'bad_request', 'request body was cut off')));
  });
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const detail = (e as Error).message.replace(/^[A-Z]/, (c) => c.toLowerCase());
    throw new HttpError(400, 'invalid_parameter', `${what} is not valid JSON: ${detail.slice(0, 120)}`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkBatchSize(count: number, limit: number): void {
  if (count > limit) throw new HttpError(413, 'batch_too_large', `batch of ${count} requests exceeds ${limit}`);
}

type Handler = (req: IncomingMessage, ctx: RouteContext) => Promise<{ status: number; body: unknown }>;

const ok = (body: unknown) => ({ status: 200, body });

async function gatewayEvaluate(req: IncomingMessage, ctx: RouteContext) {
  const value = parseJson(await readBody(req, ctx.limits.maxBodyBytes), 'request body');
  const [decision] = await ctx.decider.decide('/mcp/policy/evaluate', [gatewayRequest(value)], ctx.limits);
  return ok(gatewayDecision(decision!));
}

async function gatewayBatch(req: IncomingMessage, ctx: RouteContext) {
  const value = parseJson(await readBody(req, ctx.limits.maxBodyBytes), 'request body');
  const requests = isObject(value) ? value.requests : undefined;
  if (!Array.isArray(requests)) throw new HttpError(400, 'invalid_parameter', 'body must be {"requests": [...]}');
  checkBatchSize(requests.length, ctx.limits.maxBatch);
  if (requests.length === 0) return ok({ decisions: [] });
  const decisions = await ctx.decider.decide('/mcp/policy/evaluate/batch', requests.map(gatewayRequest), ctx.limits);
  return ok({ decisions: decisions.map(gatewayDecision) });
}

async function gatewayAudit(req: IncomingMessage, ctx: RouteContext) {
  const value = parseJson(await readBody(req, ctx.limits.maxBodyBytes), 'audit event');
  if (!isObject(value)) throw new HttpError(400, 'invalid_parameter', 'an audit event must be a JSON object');
  ctx.decider.audit(value);
  return ok({ accepted: true });
}

/** The `input` of an OPA data API body; an empty body means no input, as in OPA. */
async function opaInput(req: IncomingMessage, ctx: RouteContext): Promise<unknown> {
  const text = await readBody(req, ctx.limits.maxBodyBytes);
  if (text.trim() === '') return undefined;
  const value = parseJson(text, 'body contains malformed input document:');
  if (!isObject(value)) throw new HttpError(400, 'invalid_parameter', 'body must be a JSON object {"input": ...}');
  return value.input;
}

async function opaDecision(req: IncomingMessage, ctx: RouteContext) {
  const input = await opaInput(req, ctx);
  const [decision] = await ctx.decider.decide('/v1/data/mcp_policy/decision', [{ request: input }], ctx.limits);
  return ok({ result: decision });
}

async function opaDecisions(req: IncomingMessage, ctx: RouteContext) {
  const input = await opaInput(req, ctx);
  const requests = isObject(input) ? input.requests : undefined;
  // OPA answers an undefined document with no `result`; so does this.
  if (!Array.isArray(requests)) return ok({});
  checkBatchSize(requests.length, ctx.limits.maxBatch);
  const items: Item[] = requests.map((request: unknown) => ({ request }));
  return ok({
    result: items.length === 0 ? [] : await ctx.decider.decide('/v1/data/mcp_policy/decisions', items, ctx.limits),
  });
}

async function authzenEvaluation(req: IncomingMessage, ctx: RouteContext) {
  const value = parseJson(await readBody(req, ctx.limits.maxBodyBytes), 'request body');
  return ok(await evaluate(value, ctx.decider, ctx.limits));
}

async function authzenEvaluations(req: IncomingMessage, ctx: RouteContext) {
  const value = parseJson(await readBody(req, ctx.limits.maxBodyBytes), 'request body');
  return ok(await evaluateMany(value, ctx.decider, ctx.limits));
}

function health(_req: IncomingMessage, ctx: RouteContext) {
  if (!ctx.slot.current) return Promise.resolve({ status: 500, body: { error: NO_BUNDLE_ERROR } });
  const problem = ctx.problem?.();
  return Promise.resolve(problem === undefined ? ok({}) : { status: 500, body: { error: problem } });
}

const ROUTES: Record<string, { method: string; handler: Handler; opa?: boolean }> = {
  '/ping': { method: 'GET', handler: () => Promise.resolve(ok({})) },
  '/features': { method: 'GET', handler: () => Promise.resolve(ok({ MCPGovernance: { enabled: true } })) },
  '/mcp/policy/evaluate': { method: 'POST', handler: gatewayEvaluate },
  '/mcp/policy/evaluate/batch': { method: 'POST', handler: gatewayBatch },
  '/mcp/audit': { method: 'POST', handler: gatewayAudit },
  '/v1/data/mcp_policy/decision': { method: 'POST', handler: opaDecision, opa: true },
  '/v1/data/mcp_policy/decisions': { method: 'POST', handler: opaDecisions, opa: true },
  '/health': { method: 'GET', handler: health, opa: true },
  [AUTHZEN_PATHS.evaluation]: { method: 'POST', handler: authzenEvaluation },
  [AUTHZEN_PATHS.evaluations]: { method: 'POST', handler: authzenEvaluations },
  [AUTHZEN_PATHS.configuration]: {
    method: 'GET',
    handler: (req) => Promise.resolve(ok(configuration(req))),
  },
};

/** The request handler of a service. */
export function createHandler(ctx: RouteContext): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/metrics' && req.method === 'GET') {
      void (ctx.metricsText ?? (() => ctx.metrics.registry.metrics()))().then(
        (text) => send(res, 200, text, ctx, ctx.metrics.registry.contentType),
        () => send(res, 500, { message: 'metrics unavailable' }, ctx),
      );
      return;
    }
    const route = ROUTES[path];
    const authzen = isAuthzenPath(path);
    // AuthZEN errors use OPA's {"code","message"}: the specification asks for an error message string, and this keeps the code machine-readable.
    const opa = route?.opa ?? (authzen || path.startsWith('/v1/'));
    const id = authzen ? requestId(req) : undefined;
    if (id !== undefined) res.setHeader('X-Request-ID', id);
    const fail = (e: unknown) => {
      const err =
        e instanceof HttpError
          ? e
          : e instanceof AuthzenError
            ? new HttpError(e.status, e.code, e.message)
            : e instanceof WorkRefused
              ? new HttpError(e.status, e.code, e.message)
              : new HttpError(500, 'internal_error', 'internal error');
      if (err.status === 429) res.setHeader('Retry-After', '1');
      // A body left unread would be parsed as the next request: close instead.
      if (err.status === 413) res.setHeader('Connection', 'close');
      send(res, err.status, opa ? { code: err.code, message: err.message } : { message: err.message }, ctx);
      if (err.status === 413) req.resume();
    };
    if (!route) return fail(new HttpError(404, 'resource_not_found', `no endpoint ${path.slice(0, 100)}`));
    if (req.method !== route.method) {
      res.setHeader('Allow', route.method);
      return fail(new HttpError(405, 'method_not_allowed', `${path} takes ${route.method}`));
    }
    route
      .handler(req, ctx)
      .then(({ status, body }) => send(res, status, body, ctx), fail)
      // A reply that cannot be written (the client left) must not take the process down.
      .catch(() => res.destroy());
  };
}
