/** Opening an engine on a file that is either a compiled bundle or a policy document. */
import { readFile } from 'node:fs/promises';
import { isGzip, isWasmModule } from '../bundle.js';
import { McpPolicyError } from '../errors.js';
import { loadPolicyText } from '../policy/validate.js';
import { type Engine, type EngineName } from './engine.js';
import { openEngine } from './open.js';
import { WasmEngine } from './wasm.js';

/**
 * A bundle.tar.gz or policy.wasm opens in the wasm engine as it is; a policy
 * (bare or admin-settings.json) opens in the named engine, compiled as that
 * engine needs. Throws `read_failed`, `usage` (a bundle with another engine)
 * or {@link PolicyValidationError}.
 */
export async function openEngineForFile(file: string, engine: EngineName = 'wasm'): Promise<Engine> {
  const bytes = new Uint8Array(
    await readFile(file).catch((e: NodeJS.ErrnoException) => {
      throw new McpPolicyError('read_failed', `cannot read ${file}: ${e.code ?? e.message}`);
    }),
  );
  if (isGzip(bytes) || isWasmModule(bytes)) {
    if (engine !== 'wasm') {
      throw new McpPolicyError(
        'usage',
        `${file} is a compiled bundle; the ${engine} engine needs the policy's JSON file`,
      );
    }
    return WasmEngine.load(bytes);
  }
  const { policy } = loadPolicyText(new TextDecoder().decode(bytes), file);
  return openEngine(engine, policy);
}
