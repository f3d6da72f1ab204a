/**
 * Docker's MCP gateway protocol (docs/serve.md, and the reference it
 * follows): the request checks the gateway relies on the server for, and the
 * exact decision shape it decodes.
 */
import { type Decision, failedDecision, INVALID_REQUEST_REASON } from '../policy/model.js';

/** The decision as the gateway decodes it: lowercase keys, `allowed` always a boolean. */
export interface GatewayDecision {
  allowed: boolean;
  reason?: string;
  error?: string;
}

/** Longest `reason` or `error` sent back: they reach MCP clients and audit logs verbatim. */
export const MAX_MESSAGE_LENGTH = 300;

function short(text: string): string {
  return text.length > MAX_MESSAGE_LENGTH ? `${text.slice(0, MAX_MESSAGE_LENGTH - 1)}…` : text;
}

function invalid(error: string): Decision {
  return { allowed: false, reason: INVALID_REQUEST_REASON, rule: null, error };
}

/**
 * A gateway request ready for the engine, or the denial it earns. The engine
 * judges every field, `target` included (an unknown `target.type` denies, as
 * in `eval`); here only an empty `action` is dropped, so it means `invoke`.
 */
export function gatewayRequest(value: unknown): { request: unknown } | { denial: Decision } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { denial: invalid('a request must be a JSON object') };
  }
  const request = value as Record<string, unknown>;
  if (request.action === '') {
    const { action: _empty, ...rest } = request;
    return { request: rest };
  }
  return { request };
}

/** The reply for a decision; an error always comes with `allowed: false`. */
export function gatewayDecision(decision: Decision): GatewayDecision {
  if (decision.error !== undefined) {
    return { allowed: false, reason: short(decision.reason), error: short(decision.error) };
  }
  return { allowed: decision.allowed, reason: short(decision.reason) };
}

/** A decision a batch item earns when the item cannot be decided. */
export function itemFailure(error: string): Decision {
  return failedDecision(short(error));
}
