/**
 * The opa engine: OPA's own interpreter (`opa eval`) on the generated Rego,
 * not on the wasm bundle, so that it checks the compiler to WebAssembly as
 * well as the Rego. One process per batch.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RegoSources, writeSources } from '../compile.js';
import { describeThrown } from '../errors.js';
import { runOpa } from '../opa/cli.js';
import { type Decision, failedDecision } from '../policy/model.js';
import { checkedDecision, type Engine } from './engine.js';

interface EvalOutput {
  result?: { expressions?: { value?: unknown }[] }[];
}

/** Evaluates generated Rego with OPA's interpreter. */
export class OpaEngine implements Engine {
  readonly name = 'opa' as const;

  private constructor(private readonly dir: string) {}

  /** Prepares the sources for `opa eval`; opa itself is found on first use. */
  static async create(sources: RegoSources): Promise<OpaEngine> {
    const dir = await mkdtemp(join(tmpdir(), 'mcp-policy-opa-'));
    await writeSources(dir, sources);
    return new OpaEngine(dir);
  }

  async decide(request: unknown): Promise<Decision> {
    return (await this.decideBatch([request]))[0] ?? failedDecision('policy returned no decision');
  }

  async decideBatch(requests: readonly unknown[]): Promise<Decision[]> {
    let value: unknown;
    try {
      const stdout = await runOpa(
        [
          'eval',
          '--format',
          'json',
          '--stdin-input',
          '--data',
          join(this.dir, 'mcp_policy'),
          'data.mcp_policy.decisions',
        ],
        { input: JSON.stringify({ requests }) },
      );
      value = (JSON.parse(stdout) as EvalOutput).result?.[0]?.expressions?.[0]?.value;
    } catch (e) {
      return requests.map(() => failedDecision(`opa evaluation failed: ${describeThrown(e)}`));
    }
    if (!Array.isArray(value) || value.length !== requests.length) {
      return requests.map(() => failedDecision('policy returned the wrong number of decisions'));
    }
    return value.map((v) => {
      const checked = checkedDecision(v);
      return typeof checked === 'string' ? failedDecision(checked) : checked;
    });
  }

  /** Evaluates the single-request entry point (`data.mcp_policy.decision`) for one object request. */
  async decideSingleEntrypoint(request: Record<string, unknown>): Promise<Decision> {
    try {
      const stdout = await runOpa(
        [
          'eval',
          '--format',
          'json',
          '--stdin-input',
          '--data',
          join(this.dir, 'mcp_policy'),
          'data.mcp_policy.decision',
        ],
        { input: JSON.stringify(request) },
      );
      const checked = checkedDecision((JSON.parse(stdout) as EvalOutput).result?.[0]?.expressions?.[0]?.value);
      return typeof checked === 'string' ? failedDecision(checked) : checked;
    } catch (e) {
      return failedDecision(`opa evaluation failed: ${describeThrown(e)}`);
    }
  }

  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
