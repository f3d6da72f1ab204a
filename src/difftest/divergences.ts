/**
 * Known engine divergences: the documented cases where an engine may decide
 * differently from the reference, each with why. The differential tester
 * leaves a comparison out only when an entry here covers it, and counts it as
 * skipped; everything else must agree.
 */
import { isGoWasmLimitation } from '../engines/opa.js';
import { type Decision } from '../policy/model.js';

/** One known divergence. */
export interface KnownDivergence {
  /** The engines that may decide differently. */
  readonly engines: readonly string[];
  /** What differs and why it is accepted. */
  readonly why: string;
  /** True when `decision` (of one of `engines`) against the reference's decision is this divergence. */
  applies(decision: Decision, reference: Decision): boolean;
}

const startsWith = (d: Decision, prefix: string): boolean => d.error?.startsWith(prefix) === true;

/** Every known divergence, by name. */
export const KNOWN_DIVERGENCES = {
  'go-wasm-unreadable-input': {
    engines: ['go-wasm'],
    why:
      'opa eval -t wasm hands the module control characters, DEL and some astral characters in a Go-quoted form ' +
      'the module cannot read, and drops the input; the decision reports that instead of a policy answer',
    applies: (d) => isGoWasmLimitation(d),
  },
  'request-depth': {
    engines: ['opa', 'go-wasm'],
    why:
      "the request boundary's depth limit (32 levels) is checked by the hosts' engines, not by the Rego: an OPA " +
      'server running the bundle decides a deeper request on its fields (opa itself refuses input nested past 10,000)',
    applies: (_, reference) => startsWith(reference, 'request nests deeper than '),
  },
  'request-size': {
    engines: ['opa', 'go-wasm'],
    why:
      "the request boundary's size limit (4,194,304 units) is checked by the hosts' engines, not by the Rego: an " +
      'OPA server running the bundle decides a larger request on its fields (its own body limit is its own)',
    applies: (_, reference) => startsWith(reference, 'request is larger than '),
  },
  'number-out-of-range': {
    engines: ['opa', 'go-wasm'],
    why:
      'a JSON number beyond the range of a double (1e400) is Infinity once JavaScript has parsed it, which the ' +
      'request boundary refuses; opa keeps it as a number and decides the request on its fields',
    applies: (_, reference) => /^request is not plain JSON: .* is the number -?Infinity$/.test(reference.error ?? ''),
  },
} as const satisfies Readonly<Record<string, KnownDivergence>>;

/** The name of the known divergence that covers `decision` of `engine` against `reference`, if any. */
export function knownDivergence(engine: string, decision: Decision, reference: Decision): string | undefined {
  for (const [name, divergence] of Object.entries(KNOWN_DIVERGENCES) as [string, KnownDivergence][]) {
    if (divergence.engines.includes(engine) && divergence.applies(decision, reference)) return name;
  }
  return undefined;
}
