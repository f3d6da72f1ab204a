/**
 * Size limits of generated policies and requests, in one place. Small sizes
 * find more: short patterns over a small alphabet collide often, so requests
 * land on rule boundaries instead of missing everything.
 */
export const LIMITS = {
  /** Rules per generated policy (0 to this). */
  maxRules: 8,
  /** Rules of the occasional large policy, which exercises the rule index. */
  minLargeRules: 100,
  maxLargeRules: 600,
  /** Rules of the occasional large version 2 policy (each rule carries more conditions). */
  maxLargeRulesV2: 300,
  /** The share of generated policies that are version 2 when a run mixes both versions: one in this many. */
  version2Every: 3,
  /** Patterns in a `tools` list. */
  maxTools: 3,
  /** Characters in a literal piece between stars. */
  maxPieceLength: 5,
  /** Pieces and stars in a pattern. */
  maxPatternParts: 6,
  /** Characters a witness puts where a star stands. */
  maxStarFill: 4,
  /**
   * One generated policy in this many is pattern-heavy (see
   * generators-patterns.ts): its rules mostly constrain one field with
   * patterns no prefix or suffix can look up, or with long literal pieces.
   */
  patternPolicyEvery: 16,
  /** Rules of a pattern-heavy policy: past the count at which the generated Rego indexes such patterns. */
  minPatternRules: 48,
  maxPatternRules: 300,
  maxPatternRulesV2: 200,
  /** Characters in a piece of a pattern-heavy policy, and in its long pieces. */
  maxGramPieceLength: 12,
  maxLongPieceLength: 300,
  /** Length of the occasional long string. */
  longStringLength: 300,
  /** Requests generated for each policy. */
  requestsPerPolicy: 40,
  /** Policies compiled into one bundle and evaluated by one opa process. */
  policiesPerBundle: 50,
  /** Evaluations a shrink may spend looking for a smaller failing case. */
  maxShrinkSteps: 200,
  /** Raw JSON inputs sent in a round that has them, spread over its first `rawPolicies` policies. */
  rawPerRound: 100,
  rawPolicies: 10,
  /** Rounds between two that also send raw inputs (the first round always does). */
  rawEveryRounds: 5,
} as const;
