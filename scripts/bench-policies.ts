/**
 * Deterministic policies for `npm run bench`: N rules in a mix modelled on
 * Docker's examples and the requests real hosts send (see
 * ../shared/reference/field-notes.md), with a request that matches the first
 * rule, one that matches only the last rule, and one that matches nothing.
 *
 * Every rule carries its own index in a delimited identifier (`team-00042-*`,
 * `registry-00042.example.com/mcp/*`, ...), so that no rule can match another
 * rule's request: a "late" request really walks past every earlier rule. The
 * benchmark still checks this with the native engine before timing anything.
 */
import { type PolicyRequest } from '../src/index.js';

/** A rule as written in policy JSON (before validation turns `deny` into `allow`). */
export interface RuleJson {
  action?: 'load' | 'invoke' | 'prompt';
  server?: string;
  serverType?: 'registry' | 'image' | 'remote';
  serverSource?: string;
  transport?: 'stdio' | 'sse' | 'streamable';
  tools?: string[];
  allow?: boolean;
  deny?: boolean;
  reason?: string;
}

export interface PolicyJson {
  version: 1;
  default: 'allow' | 'deny';
  rules: RuleJson[];
}

/** Which rule a benchmark request is meant to hit. */
export type MatchCase = 'early' | 'late' | 'none';
export const MATCH_CASES: readonly MatchCase[] = ['early', 'late', 'none'];

export interface BenchPolicy {
  readonly policy: PolicyJson;
  readonly requests: Readonly<Record<MatchCase, PolicyRequest>>;
  /** The rule index each request must be decided by (null: the default). */
  readonly expectedRule: Readonly<Record<MatchCase, number | null>>;
}

interface Kind {
  /** The rule's constraints, without the decision. */
  rule(id: string): RuleJson;
  /** A full request as a host would send it, matching `rule(id)` and no rule with another id. */
  request(id: string): PolicyRequest;
}

// Ids keep a fixed width only so the generated Rego reads evenly; uniqueness
// comes from the delimiters around them (`team-00042-*` cannot match
// `team-000421-x`).
const idOf = (index: number): string => String(index).padStart(5, '0');

const DIGEST = 'sha256:3f5e0c1b7a9d2e4f6a8b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f';

/** The rule shapes, cycled in order: literals, each kind of `*` pattern, sources, tools and actions. */
const KINDS: readonly Kind[] = [
  {
    // Server literal with a literal tools allowlist.
    rule: (id) => ({ action: 'invoke', server: `github-${id}`, tools: ['create_issue', 'list_issues', 'get_issue'] }),
    request: (id) => ({
      action: 'invoke',
      server: `github-${id}`,
      serverType: 'registry',
      serverSource: `mcp/github-${id}@${DIGEST}`,
      transport: 'stdio',
      tool: 'list_issues',
    }),
  },
  {
    // `prefix*` on the server name.
    rule: (id) => ({ server: `team-${id}-*` }),
    request: (id) => ({ action: 'load', server: `team-${id}-notes`, serverType: 'image', transport: 'stdio' }),
  },
  {
    // Image source in Docker's canonical form; hosts send the short form, so
    // this also exercises reference canonicalisation.
    rule: (id) => ({ action: 'load', serverType: 'image', serverSource: `docker.io/vendor${id}/*` }),
    request: (id) => ({
      action: 'load',
      server: 'vendor-tool',
      serverType: 'image',
      serverSource: `vendor${id}/tool:1.4.2`,
      transport: 'stdio',
    }),
  },
  {
    // `*suffix` on the server name.
    rule: (id) => ({ action: 'invoke', server: `*.svc-${id}` }),
    request: (id) => ({ action: 'invoke', server: `billing.svc-${id}`, serverType: 'remote', tool: 'get_invoice' }),
  },
  {
    // Registry source pattern, as in Docker's examples.
    rule: (id) => ({ action: 'load', serverType: 'registry', serverSource: `registry-${id}.example.com/mcp/*` }),
    request: (id) => ({
      action: 'load',
      server: 'fetch',
      serverType: 'registry',
      serverSource: `registry-${id}.example.com/mcp/fetch@${DIGEST}`,
      transport: 'stdio',
    }),
  },
  {
    // `a*b*c` on the server name: needs a generated helper in Rego.
    rule: (id) => ({ server: `org-${id}-*-mcp-*-prod` }),
    request: (id) => ({ action: 'invoke', server: `org-${id}-data-mcp-search-prod`, tool: 'query' }),
  },
  {
    // Tools list with wildcards, scoped to one server.
    rule: (id) => ({ action: 'invoke', server: `files-${id}`, tools: ['delete_*', 'remove_*', '*_purge', 'wipe'] }),
    request: (id) => ({
      action: 'invoke',
      server: `files-${id}`,
      serverType: 'registry',
      serverSource: `mcp/filesystem@${DIGEST}`,
      transport: 'stdio',
      tool: 'cache_purge',
    }),
  },
  {
    // Remote server by endpoint URL and transport.
    rule: (id) => ({
      action: 'load',
      serverType: 'remote',
      serverSource: `https://mcp-${id}.example.net/*`,
      transport: 'streamable',
    }),
    request: (id) => ({
      action: 'load',
      server: `remote-${id}`,
      serverType: 'remote',
      serverSource: `https://mcp-${id}.example.net/v1/mcp`,
      transport: 'streamable',
    }),
  },
  {
    // Prompts, which hosts send with the prompt name in `tool`.
    rule: (id) => ({ action: 'prompt', server: `prompts-${id}`, tools: ['summarize_*', 'review_*'] }),
    request: (id) => ({ action: 'prompt', server: `prompts-${id}`, serverType: 'registry', tool: 'review_pr' }),
  },
];

/** Matches none of the generated rules: no id appears in it. */
const UNMATCHED: PolicyRequest = {
  action: 'invoke',
  server: 'unlisted',
  serverType: 'registry',
  serverSource: `registry.unknown.example.org/mcp/unlisted@${DIGEST}`,
  transport: 'stdio',
  tool: 'delete_everything',
};

function kindOf(index: number): Kind {
  const kind = KINDS[index % KINDS.length];
  if (kind === undefined) throw new Error('unreachable: KINDS is not empty');
  return kind;
}

/** Rule `index` of every generated policy: same index, same rule. */
export function benchRule(index: number): RuleJson {
  const id = idOf(index);
  const rule = kindOf(index).rule(id);
  // A period coprime with the kinds' cycle, so each kind gets both decisions.
  const allow = index % 4 !== 3;
  // Both spellings of a denial occur in real policies.
  if (allow) rule.allow = true;
  else if (index % 8 === 3) rule.deny = true;
  else rule.allow = false;
  if (index % 2 === 0) rule.reason = `${allow ? 'Approved' : 'Blocked'} by change ${id}`;
  return rule;
}

/** A default-deny policy of `size` rules and its three benchmark requests. */
export function benchPolicy(size: number): BenchPolicy {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`policy size must be a positive integer, got ${size}`);
  const rules = Array.from({ length: size }, (_, i) => benchRule(i));
  return {
    policy: { version: 1, default: 'deny', rules },
    requests: {
      early: kindOf(0).request(idOf(0)),
      late: kindOf(size - 1).request(idOf(size - 1)),
      none: UNMATCHED,
    },
    expectedRule: { early: 0, late: size - 1, none: null },
  };
}
