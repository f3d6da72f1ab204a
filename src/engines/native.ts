/** The native engine: the TypeScript evaluator behind the {@link Engine} interface. */
import { evaluatePolicy } from '../native/evaluate.js';
import { type Decision, type Policy } from '../policy/model.js';
import { type Engine } from './engine.js';

/** Evaluates a validated policy in TypeScript, without Rego or WebAssembly. */
export class NativeEngine implements Engine {
  readonly name = 'native' as const;

  constructor(private readonly policy: Policy) {}

  /** Synchronous form of {@link decide}, for hosts on a hot path. */
  decideSync(request: unknown): Decision {
    return evaluatePolicy(this.policy, request);
  }

  decide(request: unknown): Promise<Decision> {
    return Promise.resolve(this.decideSync(request));
  }

  decideBatch(requests: readonly unknown[]): Promise<Decision[]> {
    return Promise.resolve(requests.map((r) => this.decideSync(r)));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
