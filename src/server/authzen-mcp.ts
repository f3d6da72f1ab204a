/**
 * The MCP mapping of AuthZEN evaluations: one `{subject, action, resource,
 * context}` becomes the policy request the engines decide, or the denial it
 * earns. It follows the AuthZEN MCP profile ("COAZ Profile for the Model
 * Context Protocol", draft 1 of 2026-02-13, `authzen-mcp-profile-1_0`), whose
 * default mappings name the action after the MCP method and the resource
 * after the tool (`type: "tool"`), the prompt (`type: "prompt"`) or the
 * server (`type: "mcp_server"`). docs/serve.md lists what differs and why.
 *
 * Policy version 1 has no principal, arguments, resources or annotations:
 * the subject and context are checked for shape and not used yet, and
 * `resources/read` and `resources/subscribe` are denied. The marked places are
 * where version 2 extends the mapping.
 */
import { type Decision, INVALID_REQUEST_REASON } from '../policy/model.js';

/** An evaluation whose shape breaks the AuthZEN specification (a 400, or a per-item error in a batch). */
export class AuthzenShapeError extends Error {}

/** MCP methods and the policy action each is decided as. */
const ACTION_OF: Readonly<Record<string, 'invoke' | 'prompt' | 'load'>> = {
  'tools/call': 'invoke',
  'prompts/get': 'prompt',
  'tools/list': 'load',
  'prompts/list': 'load',
  'resources/list': 'load',
  'resources/templates/list': 'load',
};

/** Methods that need version 2's `resource` action; until then they deny. */
const NEEDS_VERSION_2 = new Set(['resources/read', 'resources/subscribe', 'resources/unsubscribe']);

/** Server facts a resource may carry in `properties`, copied to the request as they are. */
const FACTS = ['serverType', 'serverSource', 'transport'] as const;

/** The reason of a method this policy version cannot decide. */
export function needsVersion2Reason(method: string): string {
  return `${method} is decided by rules on resources, which need policy version 2; denied until then`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function quote(text: string): string {
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text);
}

/** An entity with the string members the specification requires, or a shape error naming what is wrong. */
function entity(value: unknown, name: string, required: readonly string[]): Record<string, unknown> {
  if (value === undefined) throw new AuthzenShapeError(`${name} is required`);
  if (!isObject(value)) throw new AuthzenShapeError(`${name} must be a JSON object`);
  for (const key of required) {
    if (typeof value[key] !== 'string') throw new AuthzenShapeError(`${name}.${key} must be a string`);
  }
  if (value.properties !== undefined && !isObject(value.properties)) {
    throw new AuthzenShapeError(`${name}.properties must be a JSON object`);
  }
  return value;
}

function denial(reason: string, error?: string): { denial: Decision } {
  return { denial: { allowed: false, reason, rule: null, ...(error !== undefined && { error }) } };
}

/**
 * The policy request for one evaluation (defaults already merged), or the
 * denial it earns: a method version 1 cannot decide, or a resource of a type
 * the method does not take. Throws {@link AuthzenShapeError} when the
 * evaluation breaks the specification's shapes. Never yields an allowing
 * decision itself: only the engine allows.
 */
export function mcpRequest(evaluation: Record<string, unknown>): { request: unknown } | { denial: Decision } {
  // Version 2: `subject` becomes the request's principal (`id` → `sub`, groups and claims from `properties`).
  entity(evaluation.subject, 'subject', ['type', 'id']);
  const action = entity(evaluation.action, 'action', ['name']);
  const resource = entity(evaluation.resource, 'resource', ['type', 'id']);
  // Version 2: `context` may carry what rules on context read; version 1 only checks its shape.
  if (evaluation.context !== undefined && !isObject(evaluation.context)) {
    throw new AuthzenShapeError('context must be a JSON object');
  }
  const method = action.name as string;
  const type = resource.type as string;
  const id = resource.id as string;
  if (NEEDS_VERSION_2.has(method)) return denial(needsVersion2Reason(method));
  const policyAction = ACTION_OF[method];
  if (policyAction === undefined) {
    return denial(INVALID_REQUEST_REASON, `action ${quote(method)} is not an MCP method this policy decides`);
  }
  const properties = (resource.properties ?? {}) as Record<string, unknown>;
  const request: Record<string, unknown> = { action: policyAction };
  // Which resource types each action takes: a call names its tool, a prompt
  // its prompt, a listing its server or (item by item) the tool or prompt listed.
  const named = policyAction === 'invoke' ? 'tool' : policyAction === 'prompt' ? 'prompt' : undefined;
  if (type === 'mcp_server' && named === undefined) {
    request.server = id;
  } else if (type === named || (named === undefined && (type === 'tool' || type === 'prompt'))) {
    request.tool = id;
    if (properties.server !== undefined) request.server = properties.server;
  } else {
    return denial(
      INVALID_REQUEST_REASON,
      `${method} does not take a resource of type ${quote(type)} (it takes ${named === undefined ? '"mcp_server", "tool" or "prompt"' : `"${named}"`})`,
    );
  }
  for (const fact of FACTS) if (properties[fact] !== undefined) request[fact] = properties[fact];
  // Version 2: the resource's `arguments` and `annotations` join the request here.
  return { request };
}
