/** Opening any engine for a validated policy, compiling what that engine needs. */
import { type CompileExtras, compilePolicy, regoSources } from '../pipeline/build.js';
import { type Policy } from '../policy/model.js';
import { type Engine, type EngineName } from './engine.js';
import { NativeEngine } from './native.js';
import { OpaEngine } from './opa.js';
import { WasmEngine } from './wasm.js';

/**
 * Opens the named engine on a policy: `native` interprets it directly, `wasm`
 * compiles it with opa and loads the bundle, `opa` and `go-wasm` generate the
 * Rego for the opa CLI. All but `native` need the pinned opa CLI.
 */
export async function openEngine(name: EngineName, policy: Policy, extras: CompileExtras = {}): Promise<Engine> {
  switch (name) {
    case 'native':
      return new NativeEngine(policy, extras);
    case 'wasm':
      return WasmEngine.load((await compilePolicy(policy, extras)).bundle);
    case 'opa':
      return OpaEngine.create(await regoSources(policy, extras), 'rego');
    case 'go-wasm':
      return OpaEngine.create(await regoSources(policy, extras), 'wasm');
  }
}
