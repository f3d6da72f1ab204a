/** Trying requests in the page: native decisions, saved requests as a case table, a first request to edit. */
import { NativeEngine } from '../../engines/native.js';
import { type Decision, type Policy, type PolicyRequest } from '../../policy/model.js';

/** A request kept in the playground's list, with an optional note (a case's `note`). */
export interface SavedRequest {
  note?: string;
  request: unknown;
}

const engines = new WeakMap<Policy, NativeEngine>();

/** The native engine's decision, through the request boundary as `mcp-policy eval --engine native` decides. */
export function decideNative(policy: Policy, request: unknown): Decision {
  let engine = engines.get(policy);
  if (!engine) {
    engine = new NativeEngine(policy);
    engines.set(policy, engine);
  }
  return engine.decideSync(request);
}

/**
 * The saved requests as a case table (`mcp-policy test`'s format) that
 * expects the given decisions: `allowed`, `rule` and `reason`, and `error`
 * when the decision has one.
 */
export function toCaseTable(
  policyJson: unknown,
  saved: readonly SavedRequest[],
  decisions: readonly Decision[],
): string {
  const requests = saved.map((s, i) => {
    const d = decisions[i];
    if (d === undefined) throw new RangeError(`no decision for saved request ${i}`);
    const expect = {
      allowed: d.allowed,
      rule: d.rule,
      reason: d.reason,
      ...(d.error !== undefined && { error: true }),
    };
    return { ...(s.note !== undefined && s.note !== '' && { note: s.note }), request: s.request, expect };
  });
  return `${JSON.stringify({ policy: policyJson, requests }, null, 2)}\n`;
}

/** A literal a pattern matches: its stars taken as nothing, or a placeholder for a bare `*`. */
function example(pattern: string | undefined, fallback: string): string {
  if (pattern === undefined) return fallback;
  const text = pattern.replaceAll('*', '');
  return text === '' ? fallback : text;
}

/** A request to start from: shaped like the policy's first rule, with every field Docker's gateway sends. */
export function requestTemplate(policy: Policy): unknown {
  const rule = policy.rules.find((r) => r.tools !== undefined || r.server !== undefined) ?? policy.rules[0];
  const action = rule?.action ?? 'invoke';
  const request: PolicyRequest = {
    action,
    server: example(rule?.server, 'my-server'),
    serverType: rule?.serverType ?? 'registry',
    serverSource: example(rule?.serverSource, 'docker.io/mcp/my-server'),
    transport: rule?.transport ?? 'stdio',
  };
  if (action === 'resource') request.resource = example(rule?.resources?.[0], 'file:///README.md');
  else if (action !== 'load') request.tool = example(rule?.tools?.[0], 'my_tool');
  if (policy.version === 2) {
    request.principal = {
      sub: example(rule?.users?.[0], 'alice@example.com'),
      groups: rule?.groups ? [example(rule.groups[0], 'engineering')] : [],
    };
    if (action === 'invoke' || action === 'prompt') request.arguments = {};
  }
  return request;
}
