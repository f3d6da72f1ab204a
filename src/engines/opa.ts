/**
 * Engines that run inside the opa CLI, one process per batch:
 * - `opa`: OPA's interpreter (`opa eval`) on the generated Rego, not on the
 *   wasm bundle, so it checks the compiler to WebAssembly as well as the Rego;
 * - `go-wasm`: `opa eval -t wasm`, the same WebAssembly the bundle holds, run
 *   by OPA's Go runtime instead of the JavaScript SDK.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type RegoSources, writeSources } from '../pipeline/build.js';
import { describeThrown, fileSystemError, OpaError } from '../core/errors.js';
import { resolveOpa, runOpa } from '../opa/cli.js';
import { makeTempDir } from '../core/temp-dirs.js';
import { type Decision, failedDecision } from '../policy/model.js';
import { checkedBatch, type Engine, noEnterpriseConfig, WRONG_COUNT_ERROR } from './engine.js';
import { decideBatchAtBoundaryAsync, readLocalSettings } from './request-boundary.js';

interface EvalOutput {
  result?: { expressions?: { value?: unknown }[] }[];
}

/**
 * JSON text given to opa as `input` exactly as written, the way an OPA server
 * receives a request body: lone surrogate escapes, duplicate keys and numbers
 * JavaScript cannot hold reach opa unchanged.
 */
export class JsonText {
  constructor(readonly text: string) {}
}

/**
 * Evaluates `query` over the Rego under `dataDir` with `input` (a value, or
 * {@link JsonText}), by interpreter or wasm. Throws OpaError when opa fails;
 * returns undefined when the query has no value.
 */
export async function opaEvalValue(
  dataDir: string,
  query: string,
  input: unknown,
  target: 'rego' | 'wasm',
): Promise<unknown> {
  // `opa eval -t wasm` reads the module's answer back through the Rego
  // parser, which rejects a raw U+FEFF anywhere in it; asking for the answer
  // as JSON text with that character escaped sidesteps it.
  const wrapped = target === 'wasm' ? `replace(json.marshal(${query}), "\\ufeff", "\\\\ufeff")` : query;
  const stdout = await runOpa(
    ['eval', '--format', 'json', '--target', target, '--stdin-input', '--data', dataDir, wrapped],
    { input: input instanceof JsonText ? input.text : JSON.stringify(input) },
  );
  if (stdout.trim() === '') throw new OpaError('opa_no_output', 'opa eval reported success but wrote nothing');
  let value: unknown;
  try {
    value = (JSON.parse(stdout) as EvalOutput).result?.[0]?.expressions?.[0]?.value;
    return target === 'wasm' && typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  } catch {
    throw new OpaError(
      'opa_no_output',
      `opa eval wrote something other than its JSON answer: ${JSON.stringify(stdout.slice(0, 80))}`,
    );
  }
}

// OPA's Go WebAssembly runtime (opa 1.22.2) hands input to the module in a
// Go-quoted form, and the module's JSON reader rejects Go-only escapes: \x..
// for most control characters and DEL, \a, \v, and \U........ for astral
// code points Go does not consider printable (unassigned in Go's Unicode
// tables, private use, format characters). The whole input is then silently
// dropped. The JavaScript SDK and the interpreter read such input fine.
const GO_WASM_UNREADABLE =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0007\u000b\u000e-\u001f\u007f]|(?![\p{L}\p{M}\p{N}\p{P}\p{S}])[\u{10000}-\u{10FFFF}]/u;

/** Prefix of the error of a decision `go-wasm` could not make: a documented limitation of opa, not a policy answer. */
export const GO_WASM_LIMITATION = 'opa eval -t wasm cannot read this request: ';

function firstUnreadable(value: unknown): string | undefined {
  if (typeof value === 'string') return GO_WASM_UNREADABLE.exec(value)?.[0];
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [k, v] of Object.entries(value)) {
    const found = GO_WASM_UNREADABLE.exec(k)?.[0] ?? firstUnreadable(v);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Why `go-wasm` will not be able to read a request, when that can be told in
 * advance: a control character or DEL, or an astral character that is not
 * printable (by this runtime's Unicode tables; Go's may be older, which the
 * one-by-one retry in {@link decideThroughGoWasm} catches).
 */
export function goWasmLimitation(request: unknown): string | undefined {
  const ch = firstUnreadable(request);
  if (ch === undefined) return undefined;
  const code = `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  return `${GO_WASM_LIMITATION}it contains the character ${code}, which opa passes on in a form its WebAssembly module cannot read`;
}

/** True for a decision that reports the `go-wasm` limitation rather than a policy answer. */
export function isGoWasmLimitation(decision: Decision): boolean {
  return decision.error?.startsWith(GO_WASM_LIMITATION) === true;
}

/**
 * Decides items through OPA's Go WebAssembly runtime. `evaluate` answers a
 * list of items, or undefined when the runtime lost the input. Items known
 * to be unreadable fail closed up front; when a list is lost it is halved
 * until the unreadable items are found, and those fail closed.
 */
export async function decideThroughGoWasm<T>(
  items: readonly T[],
  requestOf: (item: T) => unknown,
  evaluate: (items: readonly T[]) => Promise<Decision[] | undefined>,
): Promise<Decision[]> {
  const known = items.map((item) => goWasmLimitation(requestOf(item)));
  const readable = items.filter((_, k) => known[k] === undefined);
  const decide = async (part: readonly T[]): Promise<Decision[]> => {
    if (part.length === 0) return [];
    const answer = await evaluate(part);
    if (answer !== undefined) return answer;
    if (part.length === 1) return [failedDecision(`${GO_WASM_LIMITATION}its Go runtime dropped the input`)];
    const half = part.length >> 1;
    return [...(await decide(part.slice(0, half))), ...(await decide(part.slice(half)))];
  };
  const decided = await decide(readable);
  let next = 0;
  return known.map((why) => (why === undefined ? decided[next++]! : failedDecision(why)));
}

/** A batch answer as decisions, or undefined when it does not have one decision per request. */
export function batchOrLost(value: unknown, count: number): Decision[] | undefined {
  const decided = checkedBatch(value, count);
  return decided.some((d) => d.error === WRONG_COUNT_ERROR) ? undefined : decided;
}

/** Evaluates generated Rego with the opa CLI, by interpreter (`opa`) or WebAssembly (`go-wasm`). */
export class OpaEngine implements Engine {
  private constructor(
    private readonly dir: string,
    readonly name: 'opa' | 'go-wasm',
    private readonly hasConfig: boolean,
  ) {}

  /**
   * The last failure of opa itself while deciding (a crash, a timeout, no
   * answer), as opposed to a policy answer; the decisions concerned failed
   * closed. Lets a caller such as the CLI report a broken opa as such.
   */
  toolError: OpaError | undefined;

  /**
   * Prepares the sources for `opa eval`. Finds the pinned opa first, so a
   * missing, wrong or hanging opa is an {@link OpaError} here rather than a
   * denial of every request later.
   */
  static async create(sources: RegoSources, target: 'rego' | 'wasm' = 'rego'): Promise<OpaEngine> {
    await resolveOpa();
    const dir = await makeTempDir('opa');
    try {
      await writeSources(dir, sources);
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw fileSystemError(e, 'write the sources into', dir);
    }
    return new OpaEngine(dir, target === 'rego' ? 'opa' : 'go-wasm', sources.config === true);
  }

  async config(local: Readonly<Record<string, unknown>>): Promise<unknown> {
    if (!this.hasConfig) throw noEnterpriseConfig();
    const plain = readLocalSettings(local);
    const value = await opaEvalValue(
      join(this.dir, 'mcp_policy'),
      'data.mcp_policy.config',
      { local: plain },
      this.target,
    );
    if (value === undefined) throw new OpaError('opa_failed', 'the policy returned no configuration');
    return value;
  }

  private get target(): 'rego' | 'wasm' {
    return this.name === 'opa' ? 'rego' : 'wasm';
  }

  async decide(request: unknown): Promise<Decision> {
    return (await this.decideBatch([request]))[0] ?? failedDecision('policy returned no decision');
  }

  decideBatch(requests: readonly unknown[]): Promise<Decision[]> {
    return decideBatchAtBoundaryAsync(requests, (plain) => this.decidePlain(plain));
  }

  private async decidePlain(requests: readonly unknown[]): Promise<Decision[]> {
    const evaluate = (batch: readonly unknown[]) =>
      opaEvalValue(join(this.dir, 'mcp_policy'), 'data.mcp_policy.decisions', { requests: batch }, this.target);
    try {
      if (this.name === 'go-wasm') {
        return await decideThroughGoWasm(
          requests,
          (r) => r,
          async (batch) => batchOrLost(await evaluate(batch), batch.length),
        );
      }
      return checkedBatch(await evaluate(requests), requests.length);
    } catch (e) {
      if (e instanceof OpaError) this.toolError = e;
      return requests.map(() => failedDecision(`opa evaluation failed: ${describeThrown(e)}`));
    }
  }

  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
