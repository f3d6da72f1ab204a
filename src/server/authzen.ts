/**
 * OpenID AuthZEN Authorization API 1.0 on serve's listeners: the Access
 * Evaluation and Access Evaluations APIs and the PDP metadata. Requests map
 * to policy requests through src/server/authzen-mcp.ts and are decided by
 * the same {@link Decider} as the other endpoints, with the same limits and
 * work pricing; a batch counts one decision per evaluation it decides.
 */
import { type IncomingMessage } from 'node:http';
import { type Decision, INVALID_REQUEST_REASON } from '../policy/model.js';
import { AuthzenShapeError, mcpRequest } from './authzen-mcp.js';
import { type Decider, type Item, type WorkLimits } from './decisions.js';

/** The paths of the AuthZEN endpoints. */
export const AUTHZEN_PATHS = {
  evaluation: '/access/v1/evaluation',
  evaluations: '/access/v1/evaluations',
  configuration: '/.well-known/authzen-configuration',
} as const;

/** Whether a path belongs to the AuthZEN API (its replies echo `X-Request-ID`). */
export function isAuthzenPath(path: string): boolean {
  return path.startsWith('/access/') || path === AUTHZEN_PATHS.configuration;
}

/** A request refused as a whole (400 with the code and message). */
export class AuthzenError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The batch semantics of the specification; `execute_all` is the default. */
const SEMANTICS = ['execute_all', 'deny_on_first_deny', 'permit_on_first_permit'] as const;
type Semantic = (typeof SEMANTICS)[number];

/** One answer: the decision and, always, why. */
export interface AuthzenDecision {
  decision: boolean;
  context: {
    reason: string;
    rule: number | null;
    directive?: string;
    warning?: string;
    /** The specification's per-evaluation error shape: 400 for a request that cannot be decided, 500 for a failure. */
    error?: { status: number; message: string };
  };
}

/** Longest message sent back: they reach PEP logs and users verbatim. */
const MAX_MESSAGE_LENGTH = 300;

function short(text: string): string {
  return text.length > MAX_MESSAGE_LENGTH ? `${text.slice(0, MAX_MESSAGE_LENGTH - 1)}…` : text;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The reply for a decision; an error always comes with `decision: false`. */
export function authzenDecision(d: Decision): AuthzenDecision {
  const context: AuthzenDecision['context'] = { reason: short(d.reason), rule: d.rule };
  if (d.directive !== undefined) context.directive = d.directive;
  if (d.warning !== undefined) context.warning = short(d.warning);
  if (d.error !== undefined) {
    context.error = { status: d.reason === INVALID_REQUEST_REASON ? 400 : 500, message: short(d.error) };
  }
  return { decision: d.error === undefined && d.allowed, context };
}

/**
 * An evaluation mapped for each policy version (the bundle that decides it
 * picks its own, and a shadow of another version its own); throws
 * {@link AuthzenShapeError}, which does not depend on the version.
 */
function mapped(evaluation: Record<string, unknown>): Item {
  return { byVersion: { 1: mcpRequest(evaluation, 1), 2: mcpRequest(evaluation, 2) } };
}

/** An evaluation mapped to an item; a shape error becomes the item's invalid-request denial. */
function itemOf(evaluation: Record<string, unknown>): Item {
  try {
    return mapped(evaluation);
  } catch (e) {
    if (!(e instanceof AuthzenShapeError)) throw e;
    return { denial: { allowed: false, reason: INVALID_REQUEST_REASON, rule: null, error: e.message } };
  }
}

/** `POST /access/v1/evaluation`: one evaluation; a body that breaks the shapes is a 400. */
export async function evaluate(value: unknown, decider: Decider, limits: WorkLimits): Promise<AuthzenDecision> {
  if (!isObject(value)) throw new AuthzenError(400, 'invalid_parameter', 'the body must be a JSON object');
  let item: Item;
  try {
    item = mapped(value);
  } catch (e) {
    if (e instanceof AuthzenShapeError) throw new AuthzenError(400, 'invalid_parameter', e.message);
    throw e;
  }
  const [decision] = await decider.decide(AUTHZEN_PATHS.evaluation, [item], limits);
  return authzenDecision(decision!);
}

const TUPLE = ['subject', 'action', 'resource', 'context'] as const;

/**
 * `POST /access/v1/evaluations`: each evaluation with the top-level
 * subject, action, resource and context as defaults; without an
 * `evaluations` array, the body is one evaluation answered as such.
 */
export async function evaluateMany(
  value: unknown,
  decider: Decider,
  limits: WorkLimits & { readonly maxBatch: number },
): Promise<{ evaluations: AuthzenDecision[] } | AuthzenDecision> {
  if (!isObject(value)) throw new AuthzenError(400, 'invalid_parameter', 'the body must be a JSON object');
  const { evaluations, options } = value;
  if (evaluations === undefined) {
    const [decision] = await decider.decide(AUTHZEN_PATHS.evaluations, [itemOf(value)], limits);
    return authzenDecision(decision!);
  }
  if (!Array.isArray(evaluations)) throw new AuthzenError(400, 'invalid_parameter', 'evaluations must be an array');
  if (options !== undefined && !isObject(options)) {
    throw new AuthzenError(400, 'invalid_parameter', 'options must be a JSON object');
  }
  const asked = options?.evaluations_semantic ?? 'execute_all';
  if (typeof asked !== 'string' || !(SEMANTICS as readonly string[]).includes(asked)) {
    throw new AuthzenError(
      400,
      'invalid_parameter',
      `options.evaluations_semantic must be one of ${SEMANTICS.join(', ')}, not ${JSON.stringify(asked).slice(0, 100)}`,
    );
  }
  const semantic = asked as Semantic;
  if (evaluations.length > limits.maxBatch) {
    throw new AuthzenError(
      413,
      'batch_too_large',
      `batch of ${evaluations.length} evaluations exceeds ${limits.maxBatch}`,
    );
  }
  if (evaluations.length === 0) return { evaluations: [] };
  for (const key of TUPLE) {
    if (value[key] !== undefined && !isObject(value[key])) {
      throw new AuthzenError(400, 'invalid_parameter', `the default ${key} must be a JSON object`);
    }
  }
  const items = evaluations.map((entry: unknown, k): Item => {
    if (!isObject(entry)) {
      return {
        denial: {
          allowed: false,
          reason: INVALID_REQUEST_REASON,
          rule: null,
          error: `evaluation ${k} must be a JSON object`,
        },
      };
    }
    // A member the entry gives replaces the default as a whole, as the specification says.
    const merged: Record<string, unknown> = {};
    for (const key of TUPLE) {
      const own = entry[key];
      if (own !== undefined) merged[key] = own;
      else if (value[key] !== undefined) merged[key] = value[key];
    }
    return itemOf(merged);
  });
  const permitted = (d: Decision) => d.error === undefined && d.allowed;
  const stop =
    semantic === 'deny_on_first_deny'
      ? (d: Decision) => !permitted(d)
      : semantic === 'permit_on_first_permit'
        ? permitted
        : undefined;
  const decisions = await decider.decide(AUTHZEN_PATHS.evaluations, items, limits, stop);
  return { evaluations: decisions.map(authzenDecision) };
}

/** A `Host` header fit to name this PDP, or undefined (then `localhost`). */
function hostOf(req: IncomingMessage): string | undefined {
  const host = req.headers.host;
  return host !== undefined && /^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:\d{1,5})?$/.test(host)
    ? host
    : undefined;
}

/**
 * `GET /.well-known/authzen-configuration`: the PDP metadata. serve speaks
 * plain HTTP (TLS belongs to whatever fronts it), so the identifier is the
 * `http` URL the client reached it by.
 */
export function configuration(req: IncomingMessage): Record<string, string> {
  const base = `http://${hostOf(req) ?? 'localhost'}`;
  return {
    policy_decision_point: base,
    access_evaluation_endpoint: `${base}${AUTHZEN_PATHS.evaluation}`,
    access_evaluations_endpoint: `${base}${AUTHZEN_PATHS.evaluations}`,
  };
}

/** The request identifier to echo, if the client sent one. */
export function requestId(req: IncomingMessage): string | undefined {
  const id = req.headers['x-request-id'];
  return Array.isArray(id) ? id[0] : id;
}
