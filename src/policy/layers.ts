/**
 * Docker's layering of MCP policies: an Admin Console policy takes
 * precedence over admin-settings.json; a locked admin policy ignores the
 * user's own policy; an unlocked one is a default that the user's own policy
 * replaces. The outcome records which source is in force and why.
 */
import { type CompileExtras, type Provenance } from '../core/contracts.js';
import { type EnterpriseConfig } from '../enterprise/model.js';
import { type Policy, type PolicySource } from './model.js';

/** A validated policy and where it was read from. */
export interface PolicyLayer {
  readonly policy: Policy;
  readonly source: PolicySource;
  readonly file: string;
}

/** The candidate sources; any may be missing. */
export interface PolicyLayers {
  /** Set in Docker's Admin Console (a bare policy counts as locked). */
  readonly adminConsole?: PolicyLayer;
  /** Docker's admin-settings.json on the machine (or a bare policy file given in its place, counted as locked). */
  readonly adminSettings?: PolicyLayer;
  /** The user's own policy. */
  readonly user?: PolicyLayer;
}

function locked(layer: PolicyLayer): boolean {
  // A bare policy has no lock flag; an admin policy without one cannot be overridden.
  return layer.source.kind === 'admin-settings' ? layer.source.locked === true : true;
}

/** Picks the policy in force. `policy` is undefined when no source gave one. */
export function resolvePolicyLayers(layers: PolicyLayers): { policy: Policy | undefined; provenance: Provenance } {
  const { adminConsole, adminSettings, user } = layers;
  const admin = adminConsole ?? adminSettings;
  const adminName = adminConsole
    ? 'admin-console'
    : adminSettings?.source.kind === 'admin-settings'
      ? 'admin-settings'
      : 'policy';
  const shadowed =
    adminConsole && adminSettings ? `; the Admin Console policy takes precedence over ${adminSettings.file}` : '';
  if (admin && locked(admin)) {
    const ignored = user ? `, so the user's policy ${user.file} is ignored` : '';
    const lock = admin.source.kind === 'admin-settings' ? 'is locked' : 'has no lock flag, so it counts as locked';
    return {
      policy: admin.policy,
      provenance: { policy: adminName, why: `${admin.file} ${lock}${ignored}${shadowed}` },
    };
  }
  if (admin && user) {
    return {
      policy: user.policy,
      provenance: {
        policy: 'user',
        why: `${admin.file} is not locked, so the user's policy ${user.file} replaces it${shadowed}`,
      },
    };
  }
  if (admin) {
    return {
      policy: admin.policy,
      provenance: { policy: adminName, why: `${admin.file} is not locked and there is no user policy${shadowed}` },
    };
  }
  if (user) return { policy: user.policy, provenance: { policy: 'user', why: `${user.file} is the only policy` } };
  return {
    policy: undefined,
    provenance: { policy: 'none', why: 'no policy was given: requests the directives allow are allowed' },
  };
}

/** The policy of a bundle that has none: every request the directives allow is allowed. */
export const NO_POLICY: Policy = { version: 1, default: 'allow', rules: [] };

/** The sources of one bundle, as `compile` and `eval` take them. */
export interface BundleSources {
  /** The positional policy: a bare policy or Docker's admin-settings.json. */
  readonly policy?: PolicyLayer;
  readonly adminConsole?: PolicyLayer;
  readonly user?: PolicyLayer;
  readonly enterprise?: EnterpriseConfig;
}

/**
 * The policy in force and what else goes in the bundle. Provenance is
 * recorded whenever there is something to choose between or explain: with
 * more than one policy source, an admin-settings.json, or enterprise
 * directives; a lone bare policy records none.
 */
export function resolveBundleSources(sources: BundleSources): { policy: Policy; extras: CompileExtras } {
  const { policy: positional, adminConsole, user, enterprise } = sources;
  const layered = adminConsole !== undefined || user !== undefined || positional?.source.kind === 'admin-settings';
  const resolved = resolvePolicyLayers({
    ...(adminConsole && { adminConsole }),
    ...(positional && { adminSettings: positional }),
    ...(user && { user }),
  });
  const extras: CompileExtras = {
    ...(enterprise && { enterprise }),
    ...((layered || enterprise) && { provenance: resolved.provenance }),
  };
  return { policy: resolved.policy ?? NO_POLICY, extras };
}
