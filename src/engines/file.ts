/** Opening an engine on a file that is either a compiled bundle or a policy document. */
import { readFile } from 'node:fs/promises';
import { isGzip, isWasmModule } from '../bundle/read.js';
import { McpPolicyError } from '../core/errors.js';
import { readTextFile } from '../policy/file.js';
import { loadPolicyText } from '../policy/validate.js';
import { type Engine, type EngineName } from './engine.js';
import { openEngine } from './open.js';
import { siblingData, WasmEngine, type WasmLoadOptions } from './wasm.js';

/**
 * The wasm engine on a bundle.tar.gz or policy.wasm file, or undefined when
 * the file is something else (a policy). Throws `read_failed`, or `usage`
 * when a bundle is asked for with another engine.
 */
export async function openBundleFile(
  file: string,
  engine: EngineName = 'wasm',
  options: WasmLoadOptions = {},
): Promise<Engine | undefined> {
  const bytes = new Uint8Array(
    await readFile(file).catch((e: NodeJS.ErrnoException) => {
      throw new McpPolicyError('read_failed', `cannot read ${file}: ${e.code ?? e.message}`);
    }),
  );
  if (!isGzip(bytes) && !isWasmModule(bytes)) return undefined;
  if (engine !== 'wasm') {
    throw new McpPolicyError(
      'usage',
      `${file} is a compiled bundle; the ${engine} engine needs the policy's JSON file`,
    );
  }
  // A bare policy.wasm decides by the rules in its data.json, which compile writes beside it.
  const data = isGzip(bytes) || options.data !== undefined ? options.data : await siblingData(file);
  return WasmEngine.load(bytes, { ...options, data });
}

/**
 * A bundle.tar.gz or policy.wasm opens in the wasm engine as it is; a policy
 * (bare or admin-settings.json) opens in the named engine, compiled as that
 * engine needs. With a verification key only a signed bundle is accepted.
 * Throws `read_failed`, `usage` (a bundle with another engine, or a key with a
 * policy file), a {@link BundleError} or {@link PolicyValidationError}.
 */
export async function openEngineForFile(
  file: string,
  engine: EngineName = 'wasm',
  options: WasmLoadOptions = {},
): Promise<Engine> {
  const bundled = await openBundleFile(file, engine, options);
  if (bundled) return bundled;
  if (options.verificationKey !== undefined)
    throw new McpPolicyError('usage', '--verification-key checks bundles; give a bundle.tar.gz');
  const { policy } = loadPolicyText(await readTextFile(file), file);
  return openEngine(engine, policy);
}
