/**
 * The bundle a service decides with, and the only way to replace it: a
 * candidate is loaded and must pass the case tables it carries before it is
 * swapped in, in one assignment, so no request ever sees a half-loaded
 * policy. Until a bundle is active, every decision denies with an error.
 */
import { createHash } from 'node:crypto';
import { checkDecision, type EmbeddedCases, embeddedCases, type Expectation } from '../testing/cases.js';
import { type CompileExtras } from '../core/contracts.js';
import { McpPolicyError } from '../core/errors.js';
import { VERSION_PROBE, versionFromProbe } from '../engines/engine.js';
import { NativeEngine } from '../engines/native.js';
import { openWasmBytes, WasmEngine, type WasmLoadOptions } from '../engines/wasm.js';
import { type PolicyProfile, policyProfile } from '../host/policy-profile.js';
import { generatePolicy } from '../pipeline/build.js';
import { failedDecision, type Policy } from '../policy/model.js';

/** What a service decides with: the wasm engine on a bundle, or the native engine on a policy. */
export type SyncDecider = Pick<WasmEngine, 'decideSync' | 'decideBatchSync'>;

/** A loaded, self-tested bundle, with its costs and argument paths ({@link PolicyProfile}). */
export interface LoadedBundle extends PolicyProfile {
  readonly engine: SyncDecider;
  /** The manifest revision, or a content hash for a bundle without one (a bare policy.wasm). */
  readonly revision: string;
  /** Self-test cases run before it was accepted. */
  readonly selfTestCases: number;
  /** The policy version the bundle decides by: protocols that map requests (AuthZEN) map them for it. */
  readonly policyVersion: 1 | 2;
}

/** The error of every decision made while no bundle is active. */
export const NO_BUNDLE_ERROR = 'no policy bundle is active';

/** The policy version an engine decides by, learnt by asking it ({@link VERSION_PROBE}). */
export function policyVersionOf(engine: SyncDecider): 1 | 2 {
  return versionFromProbe(engine.decideSync(VERSION_PROBE));
}

/** How many self-test failures an error message lists before summarising. */
const SHOWN_FAILURES = 3;

/** Runs embedded case tables on an engine; returns the failures, empty when all pass. */
export function runSelfTest(engine: SyncDecider, tables: readonly EmbeddedCases[]): string[] {
  const failures: string[] = [];
  for (const table of tables) {
    const decisions = engine.decideBatchSync(table.requests.map((c) => c.request));
    table.requests.forEach((c, k) => {
      const problems = checkDecision(decisions[k] ?? failedDecision('no decision'), c.expect as Expectation);
      if (problems.length > 0) failures.push(`${table.name} /requests/${k}: ${problems.join('; ')}`);
    });
  }
  return failures;
}

/**
 * Loads bundle bytes (bundle.tar.gz or policy.wasm) and runs their self-test.
 * With a verification key in `load`, only a bundle whose signature verifies
 * is used. Throws bundle codes (signature, revision, size), wasm load codes,
 * or `self_test_failed`.
 */
export async function loadBundle(bytes: Uint8Array, load: WasmLoadOptions = {}): Promise<LoadedBundle> {
  const opened = await openWasmBytes(bytes, load);
  const engine = await WasmEngine.fromOpened(opened);
  const revision =
    typeof opened.revision === 'string' && opened.revision !== ''
      ? opened.revision
      : createHash('sha256').update(bytes).digest('hex');
  const tables: EmbeddedCases[] = embeddedCases(opened.data);
  const failures = runSelfTest(engine, tables);
  if (failures.length > 0) {
    const more = failures.length > SHOWN_FAILURES ? ` (and ${failures.length - SHOWN_FAILURES} more)` : '';
    throw new McpPolicyError(
      'self_test_failed',
      `bundle ${revision.slice(0, 12)} fails its self-test: ${failures.slice(0, SHOWN_FAILURES).join(', ')}${more}`,
    );
  }
  const selfTestCases = tables.reduce((n, t) => n + t.requests.length, 0);
  return {
    engine,
    revision,
    selfTestCases,
    ...policyProfile(opened.data),
    policyVersion: policyVersionOf(engine),
  };
}

/**
 * A validated policy decided by the native engine, which needs no opa: its
 * revision is a content hash of the policy and what goes with it, its cost
 * bound the one the compiled bundle's rule index would give.
 */
export function nativeBundle(policy: Policy, extras: CompileExtras = {}): LoadedBundle {
  const engine = new NativeEngine(policy, extras);
  const data = JSON.parse(generatePolicy(policy, extras).data) as unknown;
  const revision = `native-${createHash('sha256')
    .update(JSON.stringify([policy, extras]))
    .digest('hex')}`;
  return {
    engine,
    revision,
    selfTestCases: 0,
    ...policyProfile(data),
    policyVersion: policy.version === 2 ? 2 : 1,
  };
}

/** The outcome of offering a candidate bundle. */
export type OfferResult =
  | { readonly activated: true; readonly revision: string; readonly selfTestCases: number }
  | { readonly activated: false; readonly error: McpPolicyError };

/** Holds the active bundle and swaps candidates in once they pass. */
export class BundleSlot {
  private active: LoadedBundle | undefined;
  private pending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly hooks: {
      onActivated?: (bundle: LoadedBundle) => void;
      onRejected?: (error: McpPolicyError) => void;
    } = {},
    /** How every candidate is loaded (e.g. the key its signature must verify with). */
    private readonly load: WasmLoadOptions = {},
  ) {}

  /** The bundle now deciding, if any. */
  get current(): LoadedBundle | undefined {
    return this.active;
  }

  /** Loads and self-tests a candidate, then activates it; the previous bundle serves until then and on failure. */
  offer(bytes: Uint8Array): Promise<OfferResult> {
    return this.offerLoaded(() => loadBundle(bytes, this.load));
  }

  /** Activates what `load` loads, as {@link offer} does bundle bytes (the native engine's policy, say). */
  offerLoaded(load: () => Promise<LoadedBundle>): Promise<OfferResult> {
    // One candidate at a time, so a slow load never overwrites a newer bundle.
    const result = this.pending.then(async (): Promise<OfferResult> => {
      try {
        const bundle = await load();
        this.active = bundle;
        this.hooks.onActivated?.(bundle);
        return { activated: true, revision: bundle.revision, selfTestCases: bundle.selfTestCases };
      } catch (e) {
        const error =
          e instanceof McpPolicyError ? e : new McpPolicyError('invalid_bundle', `invalid bundle: ${String(e)}`);
        this.hooks.onRejected?.(error);
        return { activated: false, error };
      }
    });
    this.pending = result;
    return result;
  }
}
