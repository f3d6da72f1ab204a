/**
 * First match as regions: which requests each rule actually decides (it
 * matches them and no earlier rule does), and which earlier rules take the
 * rest of what it matches. Exact: each step is a box subtraction.
 */
import { type Policy } from '../policy/model.js';
import { type Box, type Region, RequestSpace } from './region.js';

/** What one rule matches and what it decides under first match. */
export interface RuleRegions {
  /** Everything the rule matches. */
  readonly match: Box;
  /** The part it decides: matched, and matched by no earlier rule. */
  readonly decides: Region;
  /** Earlier rules that decide some request this rule matches, in order. */
  readonly takenBy: readonly number[];
}

/** The decision regions of every rule of a policy. */
export function ruleRegions(space: RequestSpace, policy: Policy): RuleRegions[] {
  const boxes = policy.rules.map((r) => space.ruleBox(r, policy.version));
  return boxes.map((match, i) => {
    // Version 2 conditions can contradict each other (`equals: 1` and `not in [1]` on one path): no request at all.
    let region: Box[] = space.isEmpty(match) ? [] : [match];
    const takenBy: number[] = [];
    for (let j = 0; j < i && region.length > 0; j++) {
      const earlier = boxes[j]!;
      if (space.disjoint(match, earlier)) continue;
      if (region.every((b) => space.disjoint(b, earlier))) continue;
      takenBy.push(j);
      region = space.subtractAll(region, earlier);
    }
    return { match, decides: region, takenBy };
  });
}

/** The requests no rule matches, which the default decides. */
export function defaultRegion(space: RequestSpace, regions: readonly RuleRegions[]): Box[] {
  let region: Box[] = [space.everything()];
  for (const r of regions) {
    if (region.length === 0) break;
    region = space.subtractAll(region, r.match);
  }
  return region;
}

/** `region` minus every box in `boxes` (only those that overlap `hint`, which must contain the region). */
export function subtractMany(space: RequestSpace, region: Region, boxes: readonly Box[], hint: Box): Box[] {
  let out: Box[] = [...region];
  for (const b of boxes) {
    if (out.length === 0) break;
    if (space.disjoint(hint, b)) continue;
    out = space.subtractAll(out, b);
  }
  return out;
}
