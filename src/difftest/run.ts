/**
 * The differential tester: generates policies and requests, decides them on
 * several engines, compares `allowed`, `rule`, `reason` and whether there is
 * an error (never the error text), and shrinks every disagreement to a
 * minimal policy and request.
 */
import fc from 'fast-check';
import { WRONG_COUNT_ERROR } from '../engines/engine.js';
import { describeThrown } from '../core/errors.js';
import { type ArgumentCondition, type Decision, failedDecision, type Policy, type Rule } from '../policy/model.js';
import { sortKeysDeep } from '../diagnostics/json.js';
import { ensureValidPolicy, parsePolicy, VERSION_2_RULE_KEYS } from '../policy/validate.js';
import { type EnterpriseConfig } from '../enterprise/model.js';
import { parseEnterpriseConfig } from '../enterprise/validate.js';
import { type DiffEngine, disposeRound, type Group, prepareRound } from './engines.js';
import { enterpriseText, localSettings, policyText, withEnterpriseFields, withHostileValues } from './generators.js';
import { HOSTILE_FIELDS_V2, policyTextV2, requestForPolicy } from './generators-v2.js';
import { patternPolicyText, requestForPatterns } from './generators-patterns.js';
import { readBatch } from '../engines/request-boundary.js';
import { oversizedInput, rawInputsFor, runRawRound, tooDeepForOpa } from './raw.js';
import { LIMITS } from './settings.js';

/** One disagreement: a policy, a request and what each engine decided. */
export interface Mismatch {
  readonly policy: Policy;
  readonly request: unknown;
  readonly decisions: Readonly<Record<string, Decision>>;
  /** The enterprise config compiled in with the policy, if any. */
  readonly enterprise?: EnterpriseConfig;
  /** For a disagreement on the effective configuration (request is then `{local}`): each engine's answer. */
  readonly configs?: Readonly<Record<string, unknown>>;
  /** For a disagreement on a raw input: the JSON text opa read (`request` is what JSON.parse makes of it). */
  readonly raw?: string;
  /** What the engines decided for the unshrunk case, when it was found. */
  readonly found: {
    readonly policy: Policy;
    readonly request: unknown;
    readonly decisions: Readonly<Record<string, Decision>>;
  };
}

/** Options of a differential run. */
export interface DifftestOptions {
  /** Request cases to run (at least). */
  readonly cases: number;
  readonly seed: number;
  /** Two or more engines; the first is the reference in reports. */
  readonly engines: readonly DiffEngine[];
  /** Test this policy with generated requests instead of generating policies. */
  readonly policy?: Policy;
  /** Stop after this many disagreeing policies (each is shrunk, which takes time). */
  readonly maxMismatches?: number;
  /** Shrink mismatches (default true). */
  readonly shrink?: boolean;
  /**
   * Also send raw JSON text (non-objects, deep, huge, wrong types, lone
   * surrogates) as an OPA server receives it, every `LIMITS.rawEveryRounds`
   * rounds (default true).
   */
  readonly raw?: boolean;
  readonly onProgress?: (done: number, total: number) => void;
  /**
   * Which policy versions to generate: 1, 2, or `both` (the default: one
   * policy in `LIMITS.version2Every` is version 2, and the version 1 ones are
   * those of a version 1 run at the same positions).
   */
  readonly version?: PolicyVersions;
  /**
   * Requests generated per policy (default `LIMITS.requestsPerPolicy`). A
   * long campaign raises it: building each policy's bundle, not deciding,
   * is most of what a small batch costs.
   */
  readonly requestsPerPolicy?: number;
  /**
   * Which policies to generate: `mixed` (the default: one in
   * `LIMITS.patternPolicyEvery` is pattern-heavy, the others those of a run
   * without them at the same positions) or only `patterns`: policies
   * dominated by patterns with no literal start or end and by long pieces.
   */
  readonly shape?: PolicyShape;
}

/** The policy shapes a run generates. */
export type PolicyShape = 'mixed' | 'patterns';

/** The policy versions a run generates. */
export type PolicyVersions = 1 | 2 | 'both';

/** What a run found. */
export interface DifftestResult {
  readonly seed: number;
  readonly cases: number;
  readonly policies: number;
  /** Comparisons left out because an engine documents that it cannot decide the request. */
  readonly skipped: number;
  /** Shrunk disagreements, one per disagreeing policy. */
  readonly mismatches: readonly Mismatch[];
  /** Raw inputs decided, beside `cases`. */
  readonly rawCases: number;
}

/**
 * What is compared: the decision, its rule, reason, directive and warning,
 * and whether it carries an error; with `errorText`, the error's text too
 * (version 2 words each request error the same in every engine).
 */
export function comparable(d: Decision, errorText = false): string {
  return JSON.stringify([
    d.allowed,
    d.rule,
    d.reason,
    errorText ? (d.error ?? null) : d.error !== undefined,
    d.directive ?? null,
    d.warning ?? null,
  ]);
}

/** The engines' decisions when they differ on a request (documented limitations left out), else undefined. */
function disagreement(
  engines: readonly DiffEngine[],
  decisions: readonly Decision[],
  errorText = false,
): Record<string, Decision> | undefined {
  const compared = engines.flatMap((e, k) => (e.isLimitation?.(decisions[k] as Decision) === true ? [] : [k]));
  const keys = compared.map((k) => comparable(decisions[k] as Decision, errorText));
  if (new Set(keys).size <= 1) return undefined;
  return Object.fromEntries(compared.map((k) => [engines[k]!.name, decisions[k] as Decision]));
}

/** One engine's decisions for the groups; a failing round is retried group by group, a failing group fails closed. */
async function decideWith(engine: DiffEngine, groups: readonly Group[]): Promise<Decision[][]> {
  if (engine.ownBoundary === true) return decideRound(engine, groups);
  // The others see requests as hosts' engines do: past the request boundary.
  const batches = groups.map((g) => readBatch(g.requests));
  const plain = groups.map((g, gi) => ({ ...g, requests: batches[gi]!.plain }));
  return (await decideRound(engine, plain)).map((decided, gi) => batches[gi]!.join(decided));
}

async function decideRound(engine: DiffEngine, groups: readonly Group[]): Promise<Decision[][]> {
  const round = await prepareRound(groups);
  try {
    const decided = await engine.decide(round);
    // A batch that lost decisions says nothing about which request lost them:
    // decide such a group's requests one by one to find out.
    for (const [gi, g] of groups.entries()) {
      if (g.requests.length > 1 && decided[gi]!.some((d) => d.error === WRONG_COUNT_ERROR)) {
        const single: Decision[] = [];
        for (const request of g.requests)
          single.push(...(await decideRound(engine, [{ ...g, requests: [request] }]))[0]!);
        decided[gi] = single;
      }
    }
    return decided;
  } catch (e) {
    if (groups.length > 1) {
      const one: Decision[][] = [];
      for (const g of groups) one.push(...(await decideRound(engine, [g])));
      return one;
    }
    return groups.map((g) => g.requests.map(() => failedDecision(`${engine.name} failed: ${describeThrown(e)}`)));
  } finally {
    await disposeRound(round);
  }
}

/** Decides the groups on every engine; per group, per request, the engines' decisions in engine order. */
async function decideAll(engines: readonly DiffEngine[], groups: readonly Group[]): Promise<Decision[][][]> {
  const byEngine: Decision[][][] = [];
  for (const engine of engines) byEngine.push(await decideWith(engine, groups));
  return groups.map((g, gi) => g.requests.map((_, ri) => engines.map((_, ei) => byEngine[ei]![gi]![ri]!)));
}

async function stillDisagrees(
  engines: readonly DiffEngine[],
  policy: Policy,
  request: unknown,
  enterprise: EnterpriseConfig | undefined,
): Promise<boolean> {
  const group: Group = { policy, requests: [request], ...(enterprise && { enterprise }) };
  const [[decisions]] = (await decideAll(engines, [group])) as [[Decision[]]];
  return disagreement(engines, decisions, policy.version === 2) !== undefined;
}

/** Smaller variants of a string: halves for long ones, one character fewer for short ones. */
function smallerStrings(s: string): string[] {
  const chars = Array.from(s);
  if (chars.length > 16) return [chars.slice(0, chars.length >> 1).join(''), chars.slice(chars.length >> 1).join('')];
  return chars.map((_, k) => [...chars.slice(0, k), ...chars.slice(k + 1)].join(''));
}

/** The keys of a rule the shrinker drops one by one: version 1's, then those version 2 adds. */
const RULE_FIELDS = [
  'action',
  'server',
  'serverType',
  'serverSource',
  'transport',
  'tools',
  'reason',
  ...VERSION_2_RULE_KEYS,
] as const;

/** The list keys of a rule whose entries the shrinker removes one by one. */
const LIST_FIELDS = ['tools', 'resources', 'users', 'groups', 'arguments'] as const;

/** Whether a shrunk policy is still one the validator accepts (a candidate that is not is skipped). */
function isValid(policy: Policy): boolean {
  try {
    ensureValidPolicy(policy);
    return true;
  } catch {
    return false;
  }
}

/** An object with one member replaced or (with `undefined`) removed, built so a `__proto__` member stays a member. */
function withMember<T extends object>(o: T, key: string, value: unknown): T {
  return Object.fromEntries(
    Object.entries(o).flatMap(([k, v]) => (k !== key ? [[k, v]] : value === undefined ? [] : [[k, value]])),
  ) as T;
}

/** Smaller variants of one argument condition: without `not` or `normalize`, shorter path, fewer values. */
function smallerConditions(c: ArgumentCondition): ArgumentCondition[] {
  const out: ArgumentCondition[] = [];
  if (c.not !== undefined) out.push(withMember(c, 'not', undefined));
  if (c.normalize !== undefined) out.push(withMember(c, 'normalize', undefined));
  if (c.min !== undefined && c.max !== undefined) {
    out.push(withMember(c, 'min', undefined), withMember(c, 'max', undefined));
  }
  for (const key of ['match', 'in'] as const) {
    const list = c[key];
    if (list && list.length > 1) list.forEach((_, k) => out.push({ ...c, [key]: list.filter((_, j) => j !== k) }));
  }
  if (c.path !== '') out.push({ ...c, path: c.path.slice(0, c.path.lastIndexOf('/')) });
  c.match?.forEach((p, k) => {
    for (const s of smallerStrings(p)) out.push({ ...c, match: c.match!.map((x, j) => (j === k ? s : x)) });
  });
  return out;
}

/**
 * Smaller variants of a policy, biggest cuts first: whole rules, then fields,
 * then characters. Generated lazily: a large policy has thousands of
 * variants, and the shrinker usually takes one of the first few.
 */
function policyCandidates(policy: Policy): {
  rules: Iterable<Policy>;
  fields: Iterable<Policy>;
  text: Iterable<Policy>;
} {
  const withRules = (rules: Rule[]): Policy => ({ ...policy, rules });
  const replace = (k: number, r: Rule): Policy => withRules(policy.rules.map((x, j) => (j === k ? r : x)));
  const n = policy.rules.length;
  function* rules(): Generator<Policy> {
    // Whole chunks first, halves, then quarters, eighths and so on (as delta
    // debugging does), so a large policy shrinks within the step budget even
    // when the rules that matter sit in different halves.
    for (let size = n >> 1; size > 1; size >>= 1) {
      for (let start = 0; start < n; start += size) {
        yield withRules([...policy.rules.slice(0, start), ...policy.rules.slice(start + size)]);
      }
    }
    for (let k = 0; k < n; k++) yield withRules(policy.rules.filter((_, j) => j !== k));
  }
  function* fields(): Generator<Policy> {
    for (const [k, rule] of policy.rules.entries()) {
      for (const f of RULE_FIELDS) {
        if (rule[f] === undefined) continue;
        const { [f]: _removed, ...rest } = rule;
        yield replace(k, rest as Rule);
      }
      for (const f of LIST_FIELDS) {
        const list: readonly unknown[] | undefined = rule[f];
        if (!list || list.length < 2) continue;
        for (let t = 0; t < list.length; t++) yield replace(k, { ...rule, [f]: list.filter((_, j) => j !== t) });
      }
      for (const f of ['claims', 'annotations'] as const) {
        const members = rule[f];
        if (!members || Object.keys(members).length < 2) continue;
        for (const name of Object.keys(members))
          yield replace(k, { ...rule, [f]: withMember(members, name, undefined) });
      }
    }
  }
  // A shrunk pattern must stay a valid pattern.
  const valid = (r: Rule) => r.server !== '' && r.serverSource !== '' && (r.tools ?? ['x']).every((t) => t !== '');
  function* text(): Generator<Policy> {
    for (const [k, rule] of policy.rules.entries()) {
      const variants: Rule[] = [];
      for (const f of ['server', 'serverSource', 'reason'] as const) {
        const v = rule[f];
        if (v !== undefined) for (const s of smallerStrings(v)) variants.push({ ...rule, [f]: s });
      }
      for (const f of ['tools', 'resources', 'users', 'groups'] as const) {
        rule[f]?.forEach((p, t) => {
          for (const s of smallerStrings(p)) variants.push({ ...rule, [f]: rule[f]!.map((x, j) => (j === t ? s : x)) });
        });
      }
      for (const [name, ps] of Object.entries(rule.claims ?? {})) {
        ps.forEach((p, t) => {
          for (const s of smallerStrings(p)) {
            variants.push({
              ...rule,
              claims: withMember(
                rule.claims!,
                name,
                ps.map((x, j) => (j === t ? s : x)),
              ),
            });
          }
        });
      }
      rule.arguments?.forEach((c, t) => {
        for (const smaller of smallerConditions(c)) {
          variants.push({ ...rule, arguments: rule.arguments!.map((x, j) => (j === t ? smaller : x)) });
        }
      });
      for (const v of variants) if (valid(v)) yield replace(k, v);
    }
  }
  // Version 2 keys depend on each other (`resources` needs action `resource`): skip what the validator refuses.
  const validOnly = function* (policies: Iterable<Policy>): Generator<Policy> {
    for (const p of policies) if (policy.version === 1 || isValid(p)) yield p;
  };
  return { rules: rules(), fields: validOnly(fields()), text: validOnly(text()) };
}

/**
 * Smaller variants of a JSON value inside a request (a principal, the
 * arguments, the annotations): halves of long arrays, each member or element
 * left out, then each one made smaller in turn, `depth` levels down.
 */
function* smallerValues(v: unknown, depth: number): Generator<unknown> {
  if (typeof v === 'string') {
    yield* smallerStrings(v);
    return;
  }
  if (depth === 0 || typeof v !== 'object' || v === null) return;
  if (Array.isArray(v)) {
    if (v.length > 8) {
      yield v.slice(0, v.length >> 1);
      yield v.slice(v.length >> 1);
      return;
    }
    for (let k = 0; k < v.length; k++) yield v.filter((_, j) => j !== k);
    for (let k = 0; k < v.length; k++) {
      for (const smaller of smallerValues(v[k], depth - 1)) yield v.map((x, j) => (j === k ? smaller : x));
    }
    return;
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length > 8) {
    yield Object.fromEntries(Object.entries(o).slice(0, keys.length >> 1));
    yield Object.fromEntries(Object.entries(o).slice(keys.length >> 1));
    return;
  }
  for (const key of keys) yield withMember(o, key, undefined);
  for (const key of keys) for (const smaller of smallerValues(o[key], depth - 1)) yield withMember(o, key, smaller);
}

/** Smaller variants of a request: fields removed first, then shorter or emptier values, then smaller nested ones. */
function requestCandidates(request: unknown): { fields: unknown[]; text: Iterable<unknown> } {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) return { fields: [], text: [] };
  const r = request as Record<string, unknown>;
  const fields = Object.keys(r).map((key) => {
    const { [key]: _removed, ...rest } = r;
    return rest;
  });
  const text: unknown[] = [];
  for (const [key, v] of Object.entries(r)) {
    if (typeof v === 'string') for (const s of smallerStrings(v)) text.push({ ...r, [key]: s });
    else if (typeof v === 'object' && v !== null) text.push({ ...r, [key]: Array.isArray(v) ? [] : {} });
  }
  function* nested(): Generator<unknown> {
    yield* text;
    for (const [key, v] of Object.entries(r)) {
      if (typeof v !== 'object' || v === null) continue;
      for (const smaller of smallerValues(v, 6)) yield { ...r, [key]: smaller };
    }
  }
  return { fields, text: nested() };
}

/** Greedily shrinks a disagreeing policy and request while they still disagree. */
export async function shrinkMismatch(
  engines: readonly DiffEngine[],
  policy: Policy,
  request: unknown,
  enterprise?: EnterpriseConfig,
): Promise<{ policy: Policy; request: unknown }> {
  let steps = 0;
  let current = { policy, request };
  let progressed = true;
  while (progressed && steps < LIMITS.maxShrinkSteps) {
    progressed = false;
    const p = policyCandidates(current.policy);
    const r = requestCandidates(current.request);
    const { policy: atPolicy, request: atRequest } = current;
    function* candidates(): Generator<{ policy: Policy; request: unknown }> {
      for (const policy of p.rules) yield { policy, request: atRequest };
      for (const request of r.fields) yield { policy: atPolicy, request };
      for (const policy of p.fields) yield { policy, request: atRequest };
      for (const request of r.text) yield { policy: atPolicy, request };
      for (const policy of p.text) yield { policy, request: atRequest };
    }
    for (const candidate of candidates()) {
      if (++steps > LIMITS.maxShrinkSteps) break;
      if (await stillDisagrees(engines, candidate.policy, candidate.request, enterprise)) {
        current = candidate;
        progressed = true;
        break;
      }
    }
  }
  return current;
}

/** Effective configurations on every engine; a mismatch for each group where they differ. */
async function compareConfigs(engines: readonly DiffEngine[], groups: readonly Group[]): Promise<Mismatch[]> {
  const round = await prepareRound(groups);
  try {
    const byEngine: unknown[][][] = [];
    for (const engine of engines) {
      byEngine.push(
        await engine
          .configs(round)
          .catch((e: unknown) => groups.map(() => [`${engine.name} failed: ${describeThrown(e)}`])),
      );
    }
    return groups.flatMap((g, gi) => {
      const locals = g.locals ?? [];
      const li = locals.findIndex(
        (_, l) => new Set(engines.map((_, ei) => JSON.stringify(sortKeysDeep(byEngine[ei]![gi]![l])))).size > 1,
      );
      if (!g.enterprise || li < 0) return [];
      const configs = Object.fromEntries(engines.map((e, ei) => [e.name, byEngine[ei]![gi]![li]]));
      const request = { local: locals[li] };
      return [
        {
          policy: g.policy,
          enterprise: g.enterprise,
          request,
          decisions: {},
          configs,
          found: { policy: g.policy, request, decisions: {} },
        },
      ];
    });
  } finally {
    await disposeRound(round);
  }
}

/** Derives the seed of one generated item from the run's seed, so any item can be regenerated alone. */
function itemSeed(seed: number, k: number): number {
  return (Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(k + 1, 0x85ebca6b)) | 0;
}

/** Whether the k-th policy of a run is version 2. */
export function isVersion2(versions: PolicyVersions, k: number): boolean {
  return versions === 2 || (versions === 'both' && k % LIMITS.version2Every === LIMITS.version2Every - 1);
}

/** Whether the k-th policy of a run is pattern-heavy. */
export function isPatternHeavy(shape: PolicyShape, k: number): boolean {
  return shape === 'patterns' || k % LIMITS.patternPolicyEvery === LIMITS.patternPolicyEvery - 1;
}

/**
 * Generates the k-th policy of a run. A version 1 policy is the same as the
 * one a version 1 run generates at k, so mixing in version 2 takes nothing
 * from version 1 but the positions it fills; likewise a pattern-heavy policy
 * of a version is the same in every run that generates one at k.
 */
export function generatedPolicy(
  seed: number,
  k: number,
  versions: PolicyVersions = 'both',
  shape: PolicyShape = 'mixed',
): Policy {
  const version = isVersion2(versions, k) ? 2 : 1;
  const [text] = isPatternHeavy(shape, k)
    ? (fc.sample(patternPolicyText(version), { seed: itemSeed(seed, k) ^ 0x6a09e667, numRuns: 1 }) as [string])
    : version === 2
      ? (fc.sample(policyTextV2, { seed: itemSeed(seed, k) ^ 0x3c6ef372, numRuns: 1 }) as [string])
      : (fc.sample(policyText, { seed: itemSeed(seed, k), numRuns: 1 }) as [string]);
  const parsed = parsePolicy(text);
  if (!parsed.value) throw new Error(`generated policy is invalid: ${JSON.stringify(parsed.errors)}\n${text}`);
  return parsed.value.policy;
}

/** Generates requests for a policy, with the enterprise fields when a config is compiled in. */
export function generatedRequests(
  policy: Policy,
  seed: number,
  k: number,
  count: number,
  enterprise = false,
  shape: PolicyShape = 'mixed',
): unknown[] {
  const requests = isPatternHeavy(shape, k) ? requestForPatterns(policy) : requestForPolicy(policy);
  const arb = withHostileValues(
    enterprise ? withEnterpriseFields(requests) : requests,
    20,
    policy.version === 2 ? HOSTILE_FIELDS_V2 : undefined,
  );
  return fc.sample(arb, { seed: itemSeed(seed, k) ^ 0x2545f491, numRuns: count });
}

/** Half of the generated policies come with an enterprise config. */
export function generatedEnterprise(seed: number, k: number): EnterpriseConfig | undefined {
  const [text] = fc.sample(fc.option(enterpriseText, { freq: 2 }), {
    seed: itemSeed(seed, k) ^ 0x68e31da4,
    numRuns: 1,
  }) as [string | null];
  if (text === null) return undefined;
  const parsed = parseEnterpriseConfig(text);
  if (!parsed.value)
    throw new Error(`generated enterprise config is invalid: ${JSON.stringify(parsed.errors)}\n${text}`);
  return parsed.value;
}

/** Local settings to compute effective configurations for. */
export function generatedLocals(seed: number, k: number): Record<string, unknown>[] {
  return fc.sample(localSettings, { seed: itemSeed(seed, k) ^ 0x1b873593, numRuns: 3 });
}

/** Runs a differential campaign. */
export async function runDifftest(options: DifftestOptions): Promise<DifftestResult> {
  if (options.engines.length < 2) throw new Error('difftest needs at least two engines');
  const maxMismatches = options.maxMismatches ?? 5;
  const perPolicy = options.requestsPerPolicy ?? LIMITS.requestsPerPolicy;
  let cases = 0;
  let policies = 0;
  let skipped = 0;
  let k = 0;
  let rounds = 0;
  let rawCases = 0;
  const mismatches: Mismatch[] = [];
  while (cases < options.cases && mismatches.length < maxMismatches) {
    const groups: Group[] = [];
    while (groups.length < LIMITS.policiesPerBundle && cases + groups.length * perPolicy < options.cases) {
      const policy = options.policy ?? generatedPolicy(options.seed, k, options.version, options.shape);
      const enterprise = options.policy ? undefined : generatedEnterprise(options.seed, k);
      const requests = generatedRequests(policy, options.seed, k, perPolicy, enterprise !== undefined, options.shape);
      const locals = enterprise ? generatedLocals(options.seed, k) : undefined;
      groups.push({ policy, requests, ...(enterprise && { enterprise, locals }) });
      k++;
    }
    // A user's policy is the same in every group: decide it as one group.
    const round = options.policy ? [{ policy: options.policy, requests: groups.flatMap((g) => g.requests) }] : groups;
    const decided = await decideAll(options.engines, round);
    if (round.some((g) => g.enterprise) && mismatches.length < maxMismatches) {
      mismatches.push(...(await compareConfigs(options.engines, round)).slice(0, maxMismatches - mismatches.length));
    }
    for (const [gi, group] of round.entries()) {
      let found = false;
      for (const [ri, request] of group.requests.entries()) {
        skipped += options.engines.filter((e, ei) => e.isLimitation?.(decided[gi]![ri]![ei]!) === true).length;
        if (found || mismatches.length >= maxMismatches) continue;
        const seen = disagreement(options.engines, decided[gi]![ri]!, group.policy.version === 2);
        if (seen === undefined) continue;
        found = true;
        const small =
          options.shrink === false
            ? { policy: group.policy, request }
            : await shrinkMismatch(options.engines, group.policy, request, group.enterprise);
        const [[decisions]] = (await decideAll(options.engines, [
          { ...group, policy: small.policy, requests: [small.request] },
        ])) as [[Decision[]]];
        mismatches.push({
          policy: small.policy,
          ...(group.enterprise && { enterprise: group.enterprise }),
          request: small.request,
          decisions: Object.fromEntries(options.engines.map((e, ei) => [e.name, decisions[ei]!])),
          found: { policy: group.policy, request, decisions: seen },
        });
      }
      cases += group.requests.length;
    }
    if (options.raw !== false && rounds % LIMITS.rawEveryRounds === 0 && mismatches.length < maxMismatches) {
      // A few of the round's policies: opa compiles every policy of the round for each evaluation.
      const some = round.slice(0, LIMITS.rawPolicies);
      const perGroup = Math.ceil(LIMITS.rawPerRound / some.length);
      const inputs = some.map((g, gi) =>
        rawInputsFor(g.policy, itemSeed(options.seed ^ 0x7f4a7c15, rounds) + gi, perGroup),
      );
      inputs[0]!.push(oversizedInput(), tooDeepForOpa());
      const raw = await runRawRound(options.engines, some, inputs, maxMismatches - mismatches.length);
      rawCases += raw.cases;
      skipped += raw.skipped;
      for (const m of raw.mismatches) {
        const group = some[m.group]!;
        let request: unknown;
        try {
          request = JSON.parse(m.text) as unknown;
        } catch {
          request = m.text;
        }
        const found = { policy: group.policy, request, decisions: m.decisions };
        mismatches.push({ ...found, ...(group.enterprise && { enterprise: group.enterprise }), raw: m.text, found });
      }
    }
    rounds++;
    policies += options.policy ? groups.length : groups.length;
    options.onProgress?.(Math.min(cases, options.cases), options.cases);
  }
  return { seed: options.seed, cases, policies: options.policy ? 1 : policies, skipped, mismatches, rawCases };
}
