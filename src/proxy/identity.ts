/**
 * Who asks, as the policy sees it: the `principal` of version 2 requests,
 * made from an authenticated bearer token or from a fixed identity given on
 * the command line. The token itself never gets here.
 */
import { type Principal as AuthPrincipal } from '../host/auth.js';
import { type Principal } from '../policy/model.js';

/**
 * The policy principal of an authenticated caller: `sub`, the groups of the
 * configured groups claim, and the selected claims. A claim is kept when it
 * is a string or an array (its string elements); a claim of any other JSON
 * type (a number, a boolean, an object) is left out, as no pattern can match
 * it. Lists longer than the request limits are kept whole, so such a request
 * is invalid and denied rather than decided on part of the identity.
 */
export function principalOf(auth: AuthPrincipal): Principal {
  // Null prototype: a claim may be named __proto__.
  const claims = Object.create(null) as Record<string, string | string[]>;
  for (const [name, value] of Object.entries(auth.claims)) {
    if (typeof value === 'string') claims[name] = value;
    else if (Array.isArray(value)) claims[name] = value.filter((v): v is string => typeof v === 'string');
  }
  return { sub: auth.subject, groups: [...auth.groups], claims };
}

/** A fixed principal for a single-user proxy (`--principal-sub`, `--principal-groups`); undefined when neither is given. */
export function fixedPrincipal(sub: string | undefined, groups: readonly string[] | undefined): Principal | undefined {
  if (sub === undefined && groups === undefined) return undefined;
  return { ...(sub !== undefined && { sub }), ...(groups !== undefined && { groups: [...groups] }) };
}
