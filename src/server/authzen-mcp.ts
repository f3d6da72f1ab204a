/**
 * The MCP mapping of AuthZEN evaluations: one `{subject, action, resource,
 * context}` becomes the policy request the engines decide, or the denial it
 * earns. It follows the AuthZEN MCP profile ("COAZ Profile for the Model
 * Context Protocol", draft 1 of 2026-02-13, `authzen-mcp-profile-1_0`), whose
 * default mappings name the action after the MCP method and the resource
 * after the tool (`type: "tool"`), the prompt (`type: "prompt"`) or the
 * server (`type: "mcp_server"`); tool arguments travel in
 * `resource.properties.arguments`, as the profile proposal (openid/authzen
 * #429) puts them. docs/serve.md lists what differs and why.
 *
 * The request depends on the policy version of the bundle that decides it.
 * Version 1 has no principal, arguments, resources or annotations: the
 * subject and context are checked for shape only, and `resources/read`,
 * `resources/subscribe` and `resources/unsubscribe` are denied. Version 2
 * adds the subject as the principal, the resource's arguments and
 * annotations, and decides those methods as the `resource` action.
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

/** Methods on one resource: the `resource` action in version 2, denied in version 1. */
const RESOURCE_METHODS = new Set(['resources/read', 'resources/subscribe', 'resources/unsubscribe']);

/** Listings of resources: with a resource item (`type: "resource"`), version 2 asks about that resource. */
const RESOURCE_LISTINGS = new Set(['resources/list', 'resources/templates/list']);

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

function wrongType(method: string, type: string, takes: string): { denial: Decision } {
  return denial(
    INVALID_REQUEST_REASON,
    `${method} does not take a resource of type ${quote(type)} (it takes ${takes})`,
  );
}

/**
 * The principal of a subject: `id` is `sub`; `properties.groups` and
 * `properties.claims` are copied as they are, so a malformed one is the
 * engine's invalid request, with the same message `eval` gives.
 */
function principalOf(subject: Record<string, unknown>): Record<string, unknown> {
  const properties = (subject.properties ?? {}) as Record<string, unknown>;
  const principal: Record<string, unknown> = { sub: subject.id };
  if (properties.groups !== undefined) principal.groups = properties.groups;
  if (properties.claims !== undefined) principal.claims = properties.claims;
  return principal;
}

/**
 * The policy request for one evaluation (defaults already merged), mapped
 * for a policy of `version`, or the denial it earns: a method the version
 * cannot decide, or a resource of a type the method does not take. Throws
 * {@link AuthzenShapeError} when the evaluation breaks the specification's
 * shapes. Never yields an allowing decision itself: only the engine allows.
 */
export function mcpRequest(
  evaluation: Record<string, unknown>,
  version: 1 | 2 = 1,
): { request: unknown } | { denial: Decision } {
  const subject = entity(evaluation.subject, 'subject', ['type', 'id']);
  const action = entity(evaluation.action, 'action', ['name']);
  const resource = entity(evaluation.resource, 'resource', ['type', 'id']);
  // No rule reads the context: it is checked for shape, as the specification asks, and not used.
  if (evaluation.context !== undefined && !isObject(evaluation.context)) {
    throw new AuthzenShapeError('context must be a JSON object');
  }
  const method = action.name as string;
  const type = resource.type as string;
  const id = resource.id as string;
  const properties = (resource.properties ?? {}) as Record<string, unknown>;
  const request: Record<string, unknown> = {};
  const v2 = version === 2;
  if (RESOURCE_METHODS.has(method) || (v2 && RESOURCE_LISTINGS.has(method) && type === 'resource')) {
    if (!v2) return denial(needsVersion2Reason(method));
    if (type !== 'resource') return wrongType(method, type, '"resource"');
    request.action = 'resource';
    request.resource = id;
  } else {
    const policyAction = ACTION_OF[method];
    if (policyAction === undefined) {
      return denial(INVALID_REQUEST_REASON, `action ${quote(method)} is not an MCP method this policy decides`);
    }
    request.action = policyAction;
    // Which resource types each action takes: a call names its tool, a prompt
    // its prompt, a listing its server or (item by item) the tool or prompt listed.
    const named = policyAction === 'invoke' ? 'tool' : policyAction === 'prompt' ? 'prompt' : undefined;
    if (type === 'mcp_server' && named === undefined) {
      request.server = id;
    } else if (type === named || (named === undefined && (type === 'tool' || type === 'prompt'))) {
      request.tool = id;
    } else {
      const takes =
        named !== undefined
          ? `"${named}"`
          : v2 && RESOURCE_LISTINGS.has(method)
            ? '"mcp_server", "tool", "prompt" or "resource"'
            : '"mcp_server", "tool" or "prompt"';
      return wrongType(method, type, takes);
    }
  }
  if (request.server === undefined && properties.server !== undefined) request.server = properties.server;
  for (const fact of FACTS) if (properties[fact] !== undefined) request[fact] = properties[fact];
  if (v2) {
    request.principal = principalOf(subject);
    // As the PEP sent them: a wrong shape is the engine's invalid request, with `eval`'s message.
    if (properties.arguments !== undefined) request.arguments = properties.arguments;
    if (properties.annotations !== undefined) request.annotations = properties.annotations;
  }
  return { request };
}
