/**
 * The MCP methods the proxy forwards from a client (specification
 * 2025-11-25). A method is forwarded only when the proxy governs it or passes
 * it by design; anything else, a near-spelling of a governed method included,
 * is refused, because a server may be more lenient in what it accepts than the
 * proxy is in what it checks.
 */

/** Requests the policy decides: listings are filtered, calls and fetches checked first. */
export const GOVERNED_REQUESTS = [
  'tools/list',
  'tools/call',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
] as const;

/**
 * Requests that carry no decision the policy format can make, forwarded
 * unchanged. The task methods reach only tasks that a checked `tools/call`
 * created.
 */
export const PASSED_REQUESTS = [
  'initialize',
  'ping',
  'logging/setLevel',
  'tasks/get',
  'tasks/result',
  'tasks/list',
  'tasks/cancel',
] as const;

/** Notifications a client may send, forwarded unchanged. */
export const PASSED_NOTIFICATIONS = [
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/roots/list_changed',
  'notifications/tasks/status',
] as const;

/** A request method the proxy governs. */
export type GovernedRequest = (typeof GOVERNED_REQUESTS)[number];

const governed: ReadonlySet<string> = new Set(GOVERNED_REQUESTS);
const passedRequests: ReadonlySet<string> = new Set(PASSED_REQUESTS);
const passedNotifications: ReadonlySet<string> = new Set(PASSED_NOTIFICATIONS);

/** True when a request's method is governed (the proxy decides before or after forwarding it). */
export function isGoverned(method: string): method is GovernedRequest {
  return governed.has(method);
}

/** True when a client request with this method may reach the server (after its check, if governed). */
export function forwardsRequest(method: string): boolean {
  return governed.has(method) || passedRequests.has(method);
}

/** True when a client notification with this method may reach the server. */
export function forwardsNotification(method: string): boolean {
  return passedNotifications.has(method);
}
