/**
 * One evaluation of a loaded opa-wasm policy through the module's own
 * `opa_eval` export (ABI 1.2), as the SDK's `evaluate` does, minus what the
 * SDK repeats on every call: a new TextEncoder, TextDecoder and memory views,
 * an intermediate copy of the input, and a byte-by-byte search for the end of
 * the answer. Same export, same arguments, same answer.
 */
import { type LoadedPolicy } from '@open-policy-agent/opa-wasm';

/** The SDK object's fields this reads; they are plain properties of the SDK's LoadedPolicy. */
interface SdkPolicy {
  readonly minorVersion: number;
  readonly mem: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  readonly wasmInstance: { readonly exports: Record<string, unknown> };
  readonly dataAddr: number;
  readonly dataHeapPtr: number;
}

type OpaEval = (
  reserved: number,
  entrypoint: number,
  data: number,
  input: number,
  inputLength: number,
  heap: number,
  format: number,
) => number;

const PAGE = 65536;

/** Evaluates JSON text on a loaded policy; undefined when the module lacks the fast path (then use the SDK). */
export class DirectCall {
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();
  private view: Uint8Array;

  private constructor(
    private readonly sdk: SdkPolicy,
    private readonly opaEval: OpaEval,
  ) {
    this.view = new Uint8Array(sdk.mem.buffer);
  }

  static of(policy: LoadedPolicy): DirectCall | undefined {
    const sdk = policy as unknown as Partial<SdkPolicy>;
    const opaEval = sdk.wasmInstance?.exports.opa_eval;
    if (
      typeof opaEval !== 'function' ||
      (sdk.minorVersion ?? 0) < 2 ||
      typeof sdk.mem?.grow !== 'function' ||
      typeof sdk.dataAddr !== 'number' ||
      typeof sdk.dataHeapPtr !== 'number'
    ) {
      return undefined;
    }
    return new DirectCall(sdk as SdkPolicy, opaEval as OpaEval);
  }

  /** The current view of memory; growing memory detaches the old buffer. */
  private memory(): Uint8Array {
    if (this.view.buffer !== this.sdk.mem.buffer) this.view = new Uint8Array(this.sdk.mem.buffer);
    return this.view;
  }

  /** The result set for `json` (the input as JSON text) at entry point number `entrypoint`. */
  evaluate(json: string, entrypoint: number): unknown {
    const inputAddr = this.sdk.dataHeapPtr;
    // UTF-8 needs at most three bytes per UTF-16 code unit.
    const room = inputAddr + json.length * 3 - this.sdk.mem.buffer.byteLength;
    if (room > 0) this.sdk.mem.grow(Math.ceil(room / PAGE));
    const { written } = this.encoder.encodeInto(json, this.memory().subarray(inputAddr));
    const result = this.opaEval(0, entrypoint, this.sdk.dataAddr, inputAddr, written, inputAddr + written, 0);
    const memory = this.memory();
    const end = memory.indexOf(0, result);
    return JSON.parse(this.decoder.decode(memory.subarray(result, end < 0 ? memory.length : end)));
  }
}
