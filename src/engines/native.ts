/** The native engine: the TypeScript evaluator behind the {@link Engine} interface. */
import { type CompileExtras } from '../core/contracts.js';
import { effectiveConfig } from '../enterprise/effective.js';
import { evaluateCopiedRequest } from '../native/evaluate.js';
import { type Decision, type Policy } from '../policy/model.js';
import { ensureValidPolicy } from '../policy/validate.js';
import { type Engine, noEnterpriseConfig } from './engine.js';
import { decideAtBoundary, decideBatchAtBoundary, readLocalSettings } from './request-boundary.js';

/** Evaluates a validated policy (and enterprise directives) in TypeScript, without Rego or WebAssembly. */
export class NativeEngine implements Engine {
  readonly name = 'native' as const;

  private readonly policy: Policy;
  /** What a plain request is decided by: made once, not per decision. */
  private readonly evaluate: (plain: Record<string, unknown>) => Decision;

  /** Throws {@link PolicyValidationError} for a policy object that is not valid (see ensureValidPolicy). */
  constructor(
    policy: Policy,
    private readonly extras: CompileExtras = {},
  ) {
    this.policy = ensureValidPolicy(policy);
    const valid = this.policy;
    this.evaluate = (plain) => evaluateCopiedRequest(valid, plain, extras.enterprise);
  }

  /** Synchronous form of {@link decide}, for hosts on a hot path. */
  decideSync(request: unknown): Decision {
    return decideAtBoundary(request, this.evaluate);
  }

  decide(request: unknown): Promise<Decision> {
    return Promise.resolve(this.decideSync(request));
  }

  /** Synchronous form of {@link decideBatch}. */
  decideBatchSync(requests: readonly unknown[]): Decision[] {
    return decideBatchAtBoundary(requests, (plain) =>
      plain.map((r) => evaluateCopiedRequest(this.policy, r, this.extras.enterprise)),
    );
  }

  decideBatch(requests: readonly unknown[]): Promise<Decision[]> {
    return Promise.resolve(this.decideBatchSync(requests));
  }

  config(local: Readonly<Record<string, unknown>>): Promise<unknown> {
    const { enterprise, provenance } = this.extras;
    if (!enterprise) return Promise.reject(noEnterpriseConfig());
    let plain: Record<string, unknown>;
    try {
      plain = readLocalSettings(local);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    const config = effectiveConfig(enterprise, plain);
    return Promise.resolve(provenance ? { ...config, policy: provenance } : config);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
