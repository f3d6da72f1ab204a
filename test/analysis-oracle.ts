/**
 * Brute-force ground truth for policy analysis: decides every request of a
 * finite universe with the native matcher and reads shadowing, redundancy,
 * blocked tools and differences off the decisions. The universe is the
 * product of one representative per field per matching profile (which of the
 * involved patterns a value matches), so it meets every region the patterns
 * can carve out, as far as the small value sets reach.
 */
import { isDeepStrictEqual } from 'node:util';
import { smallNames, smallSources } from '../src/difftest/analysis-generators.js';
import { canonicalImageReference, sourceForms, wildcardMatch } from '../src/native/match.js';
import { ACTIONS, type Policy, type Rule, SERVER_TYPES, TRANSPORTS } from '../src/policy/model.js';

export interface Universe {
  readonly requests: Record<string, string>[];
  /** For each policy, for each request: the bit mask of rules that match it. */
  readonly masks: number[][];
}

const NAMES = smallNames();
const SOURCES = smallSources();

/** Which of `values` a pattern matches, memoised across policies (patterns repeat in a small space). */
function matchTable(
  cache: Map<string, Uint8Array>,
  values: readonly string[],
  pattern: string,
  match: (p: string, v: string) => boolean,
): Uint8Array {
  let row = cache.get(pattern);
  if (!row) {
    row = Uint8Array.from(values, (v) => (match(pattern, v) ? 1 : 0));
    cache.set(pattern, row);
  }
  return row;
}

const sourceMatch = (p: string, s: string): boolean => s !== '' && sourceForms(s).some((f) => wildcardMatch(p, f));
const nameMatch = (p: string, s: string): boolean => s !== '' && wildcardMatch(p, s);

const nameCache = new Map<string, Uint8Array>();
const sourceCache = new Map<string, Uint8Array>();

/** One value per matching profile (plus the absent value): the base values first, then `more`. */
function representatives(
  base: readonly string[],
  more: readonly string[],
  patterns: readonly string[],
  cache: Map<string, Uint8Array>,
  match: (p: string, v: string) => boolean,
  extra: (v: string) => string,
): string[] {
  const rows = patterns.map((p) => matchTable(cache, base, p, match));
  const seen = new Set<string>();
  const out: string[] = [''];
  const add = (v: string, profile: string) => {
    const key = `${profile}|${extra(v)}`;
    if (v !== '' && !seen.has(key)) {
      seen.add(key);
      out.push(v);
    }
  };
  base.forEach((v, k) => add(v, rows.map((r) => r[k]).join('')));
  for (const v of more) add(v, patterns.map((p) => (match(p, v) ? 1 : 0)).join(''));
  return out;
}

/** Whether a host (as Docker's gateway fills requests) could send this request. */
export function hostCould(r: Record<string, string>): boolean {
  const t = r.serverType;
  const src = r.serverSource ?? '';
  if (t === undefined) return true;
  if (t === 'registry' || t === 'image') {
    return (r.transport === undefined || r.transport === 'stdio') && !src.includes('://');
  }
  return (r.transport === undefined || r.transport !== 'stdio') && (src === '' || /^https?:\/\//.test(src));
}

function ruleMatches(rule: Rule, r: Record<string, string>): boolean {
  if (rule.action !== undefined && rule.action !== (r.action ?? 'invoke')) return false;
  if (rule.serverType !== undefined && rule.serverType !== r.serverType) return false;
  if (rule.transport !== undefined && rule.transport !== r.transport) return false;
  if (rule.server !== undefined && !nameMatch(rule.server, r.server ?? '')) return false;
  if (rule.serverSource !== undefined && !sourceMatch(rule.serverSource, r.serverSource ?? '')) return false;
  if (rule.tools !== undefined && !rule.tools.some((t) => nameMatch(t, r.tool ?? ''))) return false;
  return true;
}

/** The request universe for some policies. */
export function universe(
  policies: readonly Policy[],
  extra: { server?: string[]; serverSource?: string[]; tool?: string[] } = {},
): Universe {
  const rules = policies.flatMap((p) => p.rules);
  const servers = [...new Set(rules.flatMap((r) => (r.server === undefined ? [] : [r.server])))];
  const tools = [...new Set(rules.flatMap((r) => r.tools ?? []))];
  const sources = [...new Set(rules.flatMap((r) => (r.serverSource === undefined ? [] : [r.serverSource])))];
  const noExtra = () => '';
  const hostClass = (v: string) => `${v.includes('://')}${/^https?:\/\//.test(v)}`;
  const serverReps = representatives(NAMES, extra.server ?? [], servers, nameCache, nameMatch, noExtra);
  const toolReps = representatives(NAMES, extra.tool ?? [], tools, nameCache, nameMatch, noExtra);
  const sourceReps = representatives(SOURCES, extra.serverSource ?? [], sources, sourceCache, sourceMatch, hostClass);
  const requests: Record<string, string>[] = [];
  for (const action of ACTIONS)
    for (const serverType of [...SERVER_TYPES, ''])
      for (const transport of [...TRANSPORTS, ''])
        for (const server of serverReps)
          for (const serverSource of sourceReps)
            for (const tool of toolReps) {
              const r: Record<string, string> = { action };
              if (serverType) r.serverType = serverType;
              if (transport) r.transport = transport;
              if (server) r.server = server;
              if (serverSource) r.serverSource = serverSource;
              if (tool) r.tool = tool;
              requests.push(r);
            }
  const masks = policies.map((p) =>
    requests.map((r) => p.rules.reduce((m, rule, i) => (ruleMatches(rule, r) ? m | (1 << i) : m), 0)),
  );
  return { requests, masks };
}

/** The index of the first rule in a mask at or after `from`, or null. */
export function firstRule(mask: number, from = 0): number | null {
  const m = (mask >>> from) << from;
  if (m === 0) return null;
  return 31 - Math.clz32(m & -m);
}

export function allowedBy(policy: Policy, rule: number | null): boolean {
  return rule === null ? policy.default === 'allow' : policy.rules[rule]!.allow;
}

/** Ground truth of the lint findings that depend on meaning: rule indexes per code. */
export function lintTruth(policy: Policy, u: Universe): Record<string, number[]> {
  const masks = u.masks[0]!;
  const decided = new Array<number>(policy.rules.length).fill(0);
  const redundantBroken = new Array<boolean>(policy.rules.length).fill(false);
  masks.forEach((m) => {
    const i = firstRule(m);
    if (i === null) return;
    decided[i]!++;
    // Without rule i this request falls to the next matching rule or the default.
    const j = firstRule(m, i + 1);
    if (allowedBy(policy, j) !== policy.rules[i]!.allow) redundantBroken[i] = true;
  });
  const shadowed = policy.rules.flatMap((_, i) => (decided[i] === 0 ? [i] : []));
  const redundant = policy.rules.flatMap((_, i) => (decided[i]! > 0 && !redundantBroken[i] ? [i] : []));
  const impossible = policy.rules.flatMap((rule, i) =>
    u.requests.some((r, k) => (masks[k]! & (1 << i)) !== 0 && hostCould(r)) ? [] : [i],
  );
  const blocked = (call: 'invoke' | 'prompt'): number[] => {
    if (policy.default !== 'deny') return [];
    // Servers (all fields but action and tool) with some allowed call.
    const callable = new Set<string>();
    const key = (r: Record<string, string>) => JSON.stringify([r.server, r.serverType, r.serverSource, r.transport]);
    u.requests.forEach((r, k) => {
      if (r.action === call && r.tool !== undefined && allowedBy(policy, firstRule(masks[k]!))) callable.add(key(r));
    });
    const out = new Set<number>();
    u.requests.forEach((r, k) => {
      if (r.action !== 'load' || r.tool !== undefined) return;
      const i = firstRule(masks[k]!);
      if (i !== null && policy.rules[i]!.allow && !callable.has(key(r))) out.add(i);
    });
    return [...out].sort((a, b) => a - b);
  };
  const anyOther = masks.some((m) => allowedBy(policy, firstRule(m)) !== (policy.default === 'allow'));
  // Every small source, and the universe's own (which include the witnesses lint gave).
  // Docker also reads `index.docker.io/…` as `docker.io/…`; the small pieces cannot spell every such form (the
  // pieces hold `docker.io/library/` but not `library/`), so each Hub source is tried with that host too.
  const own = [...SOURCES, ...u.requests.flatMap((r) => (r.serverSource ? [r.serverSource] : []))];
  const sources = [...new Set([...own, ...own.filter((s) => s.startsWith('docker.io/')).map((s) => `index.${s}`)])];
  const nonCanonical = policy.rules.flatMap((rule, i) => {
    const p = rule.serverSource;
    const escapes = (s: string): boolean =>
      s !== '' && !s.includes('://') && wildcardMatch(p!, s) && !wildcardMatch(p!, canonicalImageReference(s));
    return p !== undefined && sources.some(escapes) ? [i] : [];
  });
  return {
    shadowed_rule: shadowed,
    redundant_rule: redundant,
    impossible_combination: impossible,
    non_canonical_source: nonCanonical,
    tools_blocked_by_default: blocked('invoke'),
    prompts_blocked_by_default: blocked('prompt'),
    deny_only: !anyOther && policy.default === 'deny' ? [-1] : [],
    allow_only: !anyOther && policy.default === 'allow' ? [-1] : [],
  };
}

function sameRule(a: Rule, b: Rule): boolean {
  const norm = (r: Rule) => ({ ...r, tools: r.tools ? [...new Set(r.tools)].sort() : undefined });
  return isDeepStrictEqual(norm(a), norm(b));
}

/** Ground truth of a diff: the set of `old→new:kind` pairs some request realises. */
export function diffTruth(a: Policy, b: Policy, u: Universe): string[] {
  const out = new Set<string>();
  u.requests.forEach((_, k) => {
    const i = firstRule(u.masks[0]![k]!);
    const j = firstRule(u.masks[1]![k]!);
    const x = allowedBy(a, i);
    const y = allowedBy(b, j);
    let kind: string | undefined;
    if (x !== y) kind = x ? 'now_denied' : 'now_allowed';
    else if (i === null ? j !== null : j === null || !sameRule(a.rules[i]!, b.rules[j]!)) kind = 'rule_changed';
    if (kind) out.add(`${i}→${j}:${kind}`);
  });
  return [...out].sort();
}
