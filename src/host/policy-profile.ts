/**
 * What a host knows of a loaded policy besides its engine, read once from the
 * lowered data (a bundle's data.json, or a policy lowered as the bundle would
 * be): what deciding a request costs, so a host can refuse work it cannot
 * afford before deciding, and which argument paths each rule reads, so a
 * decision record can say which paths decided without a second evaluation.
 * Both engines and bundles give the same profile, since both come from the
 * same data.
 */
import { POLICY_PACKAGE } from '../core/contracts.js';
import { cutsManyValues, patternWeight, requestCost, requestWork } from '../engines/wasm-cost.js';
import { type Decision } from '../policy/model.js';

/** A loaded policy's costs and argument paths ({@link policyProfile}). */
export interface PolicyProfile {
  /** An upper bound on what deciding one short request costs, in rule checks ({@link requestCost}). */
  readonly requestCost: number;
  /** How many times a request's entries and argument values weigh on this policy ({@link patternWeight}). */
  readonly patternWeight: number;
  /** Whether the policy's index cuts every group, claim value or argument string into n-grams ({@link cutsManyValues}). */
  readonly cutsManyValues?: boolean;
  /**
   * Per rule index, the JSON pointers of the rule's argument conditions as
   * the policy wrote them (`*` for every element), each once, in the rule's
   * order; empty for a rule without argument conditions (every rule of a
   * version 1 policy).
   */
  readonly argumentPaths: readonly (readonly string[])[];
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The version 2 condition kinds that test an argument (`lower.ts`, `ConditionV2Json`); their steps come second. */
const ARGUMENT_KINDS: ReadonlySet<unknown> = new Set(['m', 'mp', 'in', 'rg', 'p']);

const escapeSegment = (segment: string): string => segment.replaceAll('~', '~0').replaceAll('/', '~1');

/**
 * The pointer a lowered argument's steps came from: a lone member name, or
 * per segment `"*"`, a member name, or `[name, index]`. Lowering only ever
 * turns the segment `*` into `"*"`, so the round trip gives the pointer as
 * written. Undefined for steps of another shape.
 */
function pointerOf(steps: unknown): string | undefined {
  if (typeof steps === 'string') return `/${escapeSegment(steps)}`;
  if (!Array.isArray(steps)) return undefined;
  let pointer = '';
  for (const step of steps as unknown[]) {
    const name = Array.isArray(step) ? (step as unknown[])[0] : step;
    if (typeof name !== 'string') return undefined;
    pointer += name === '*' ? '/*' : `/${escapeSegment(name)}`;
  }
  return pointer;
}

/**
 * The argument pointers of one lowered rule: a version 2 rule is a pair of
 * condition lists (version 1 kinds, version 2 kinds), held as JSON text when
 * the index narrows it; a version 1 rule is one list whose conditions start
 * with their kind, and tests no argument.
 */
function rulePaths(rule: unknown): readonly string[] {
  let when = rule;
  if (typeof when === 'string') {
    try {
      when = JSON.parse(when) as unknown;
    } catch {
      return [];
    }
  }
  if (!Array.isArray(when) || when.length !== 2) return [];
  const [v1, v2] = when as unknown[];
  const isPairPart = (part: unknown) => Array.isArray(part) && part.every((c) => Array.isArray(c));
  if (!isPairPart(v1) || !isPairPart(v2)) return [];
  const paths: string[] = [];
  for (const condition of v2 as unknown[][]) {
    if (!ARGUMENT_KINDS.has(condition[0])) continue;
    const pointer = pointerOf(condition[1]);
    if (pointer !== undefined && !paths.includes(pointer)) paths.push(pointer);
  }
  return paths;
}

/**
 * The profile of a policy from its data (data.json as parsed). Data that is
 * not a lowered mcp-policy gives the costs {@link requestCost} gives it and
 * no argument paths. Reads every rule once; never throws.
 */
export function policyProfile(data: unknown): PolicyProfile {
  const lowered = isRecord(data) && isRecord(data[POLICY_PACKAGE]) ? data[POLICY_PACKAGE].lowered : undefined;
  const rules = isRecord(lowered) && Array.isArray(lowered.rules) ? (lowered.rules as unknown[]) : [];
  return {
    requestCost: requestCost(data),
    patternWeight: patternWeight(data),
    cutsManyValues: cutsManyValues(data),
    argumentPaths: rules.map(rulePaths),
  };
}

/**
 * The argument paths of the rule that made a decision, for its record:
 * undefined when no rule decided (the default, a directive, a failure) or the
 * rule tests no argument.
 */
export function decidingPaths(
  profile: Pick<PolicyProfile, 'argumentPaths'> | undefined,
  decision: Decision,
): readonly string[] | undefined {
  if (profile === undefined || decision.rule === null || decision.error !== undefined) return undefined;
  const paths = profile.argumentPaths[decision.rule];
  return paths !== undefined && paths.length > 0 ? paths : undefined;
}

/** What deciding `request` costs on a policy, in rule checks ({@link requestWork}). */
export function workOn(
  profile: Pick<PolicyProfile, 'requestCost' | 'patternWeight' | 'cutsManyValues'>,
  request: unknown,
): number {
  return requestWork(request, profile.requestCost, profile.patternWeight, profile.cutsManyValues === true);
}
