/**
 * Stage 4: build. Generates the Rego module for a policy and compiles it,
 * with the static helpers, to a WebAssembly bundle through `opa build -t wasm`.
 * Output is deterministic (the bundle revision is a content hash and opa
 * writes fixed tar metadata) and written atomically: a failed build leaves the
 * output folder as it was.
 */
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { contentRevision, readBundleFiles, readWasmBundle, SIGNATURES_FILE, writeBundle } from './bundle.js';
import { McpPolicyError } from './errors.js';
import { lower } from './lower.js';
import { PACKAGE_ROOT, runOpa } from './opa/cli.js';
import { type Policy } from './policy/model.js';
import { BATCH_ENTRYPOINT, type CompileExtras, CONFIG_ENTRYPOINT, DECISION_ENTRYPOINT } from './contracts.js';
import { emitRego } from './rego/emit.js';

export { type CompileExtras } from './contracts.js';

/** Path of the static helper module that every generated module imports. */
export const LIB_REGO_PATH = join(PACKAGE_ROOT, 'rego', 'mcp_policy', 'lib.rego');
/** Capabilities of the wasm target: the builtins it runs natively, without RE2. */
export const WASM_CAPABILITIES_PATH = join(PACKAGE_ROOT, 'wasm', 'capabilities.json');

/** The Rego sources of a compiled policy, as files of one bundle. */
export interface RegoSources {
  /** The generated module (package mcp_policy). */
  readonly policy: string;
  /** The static helpers (package mcp_policy.lib). */
  readonly lib: string;
  /** True when the module answers `config` (it carries enterprise directives). */
  readonly config?: boolean;
}

/** Everything a build produces. */
export interface CompiledPolicy extends RegoSources {
  /** The bundle's revision: a hash of its content (policy.wasm, data.json, the Rego). */
  readonly revision: string;
  /** A standard OPA bundle: policy.wasm, data.json, .manifest and the sources. */
  readonly bundle: Uint8Array;
  /** The bare WebAssembly module, as the opa-wasm SDK loads it. */
  readonly wasm: Uint8Array;
}

/** Generates the Rego module for a validated policy. Pure and deterministic. */
export function generateRego(policy: Policy, extras: CompileExtras = {}): string {
  return emitRego(lower(policy), {
    ...(extras.enterprise && { enterprise: extras.enterprise }),
    ...(extras.provenance && { provenance: extras.provenance }),
  });
}

let libText: Promise<string> | undefined;

/** The static helper module's text. */
export function readLibRego(): Promise<string> {
  libText ??= readFile(LIB_REGO_PATH, 'utf8');
  return libText;
}

/** The generated and static Rego for a policy. */
export async function regoSources(policy: Policy, extras: CompileExtras = {}): Promise<RegoSources> {
  return { policy: generateRego(policy, extras), lib: await readLibRego(), config: extras.enterprise !== undefined };
}

/** Writes the sources under `dir` in the layout opa sees: mcp_policy/{policy,lib}.rego. */
export async function writeSources(dir: string, sources: RegoSources): Promise<void> {
  await mkdir(join(dir, 'mcp_policy'), { recursive: true });
  await writeFile(join(dir, 'mcp_policy', 'policy.rego'), sources.policy);
  await writeFile(join(dir, 'mcp_policy', 'lib.rego'), sources.lib);
}

/**
 * How to sign a bundle, the way `opa build --signing-key` does: a
 * `.signatures.json` JWT over the hashes of every file.
 */
export interface SigningOptions {
  /** PEM private key (RSA or EC) or HMAC secret, as text. */
  readonly signingKey: string;
  /** JWS algorithm (default RS256, OPA's default). */
  readonly signingAlg?: string;
  /** Key id recorded in the signature; OPA picks its verification key by it (default `default`). */
  readonly keyId?: string;
}

/** Runs `opa build` in bundle mode over the sources in `work/src`, into `work/content.tar.gz`. */
async function opaBuild(work: string, sources: RegoSources): Promise<Uint8Array> {
  await runOpa(
    [
      'build',
      '--bundle',
      '--target',
      'wasm',
      '--entrypoint',
      DECISION_ENTRYPOINT,
      '--entrypoint',
      BATCH_ENTRYPOINT,
      ...(sources.config ? ['--entrypoint', CONFIG_ENTRYPOINT] : []),
      '--capabilities',
      WASM_CAPABILITIES_PATH,
      '--output',
      join('..', 'content.tar.gz'),
      // Run from inside the folder: in bundle mode opa keeps the path it is given as a prefix of every file.
      '.',
    ],
    { cwd: join(work, 'src') },
  );
  return new Uint8Array(await readFile(join(work, 'content.tar.gz')));
}

/**
 * Compiles Rego sources to a wasm bundle with the pinned opa. The revision is
 * the hash of the built content (see contentRevision), known only once opa
 * has built it, so it is stamped into the manifest afterwards; signing (by
 * `opa sign`, over the stamped bundle) comes last, and loading the result
 * checks it all.
 */
export async function buildWasm(sources: RegoSources, signing?: SigningOptions): Promise<CompiledPolicy> {
  const work = await mkdtemp(join(tmpdir(), 'mcp-policy-build-'));
  try {
    await writeSources(join(work, 'src'), sources);
    const files = readBundleFiles(await opaBuild(work, sources));
    const revision = contentRevision(files);
    const manifest = JSON.parse(new TextDecoder().decode(files.get('.manifest'))) as Record<string, unknown>;
    files.set('.manifest', new TextEncoder().encode(JSON.stringify({ ...manifest, revision })));
    let bundle = writeBundle(files);
    if (signing !== undefined) {
      // opa reads the key from a file; an owner-only one inside the build folder goes away with it.
      await writeFile(join(work, 'signing.key'), signing.signingKey, { mode: 0o600 });
      await writeFile(join(work, 'claims.json'), JSON.stringify({ keyid: signing.keyId ?? 'default' }));
      await writeFile(join(work, 'unsigned.tar.gz'), bundle);
      await runOpa(
        [
          'sign',
          '--bundle',
          'unsigned.tar.gz',
          '--signing-key',
          'signing.key',
          '--signing-alg',
          signing.signingAlg ?? 'RS256',
          '--claims-file',
          'claims.json',
          '--output-file-path',
          '.',
        ],
        { cwd: work },
      );
      files.set(SIGNATURES_FILE, new Uint8Array(await readFile(join(work, SIGNATURES_FILE))));
      bundle = writeBundle(files);
    }
    const { wasm } = readWasmBundle(bundle);
    return { ...sources, revision, bundle, wasm };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Generates and compiles a policy, signing the bundle when `signing` is given. */
export async function compilePolicy(
  policy: Policy,
  extras: CompileExtras = {},
  signing?: SigningOptions,
): Promise<CompiledPolicy> {
  return buildWasm(await regoSources(policy, extras), signing);
}

/** Files of an output folder, by name. */
export const OUTPUT_FILES = ['policy.rego', 'lib.rego', 'bundle.tar.gz', 'policy.wasm'] as const;

/**
 * Writes a compiled policy to `outDir` (policy.rego, lib.rego, bundle.tar.gz,
 * policy.wasm). The files are written to a sibling temporary folder that then
 * replaces `outDir`, so readers never see a mix of old and new files. An
 * existing `outDir` that holds anything else is refused rather than replaced.
 */
export async function writeOutput(compiled: CompiledPolicy, outDir: string): Promise<void> {
  const target = resolve(outDir);
  const parent = dirname(target);
  const existing = await readdir(target).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [];
    if (e.code === 'ENOTDIR') throw new McpPolicyError('output_not_empty', `${target} exists and is not a folder`);
    throw e;
  });
  const foreign = existing.filter((name) => !(OUTPUT_FILES as readonly string[]).includes(name));
  if (foreign.length > 0) {
    throw new McpPolicyError(
      'output_not_empty',
      `${target} holds files mcp-policy did not write (${foreign
        .slice(0, 3)
        .map((n) => JSON.stringify(n))
        .join(', ')}); choose another output folder`,
    );
  }
  await mkdir(parent, { recursive: true });
  const staging = await mkdtemp(join(parent, `.${basename(target)}.tmp-`));
  const contents: Record<(typeof OUTPUT_FILES)[number], string | Uint8Array> = {
    'policy.rego': compiled.policy,
    'lib.rego': compiled.lib,
    'bundle.tar.gz': compiled.bundle,
    'policy.wasm': compiled.wasm,
  };
  try {
    for (const name of OUTPUT_FILES) await writeFile(join(staging, name), contents[name]);
    const old = `${staging}.old`;
    let hadOld = false;
    try {
      await rename(target, old);
      hadOld = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    try {
      await rename(staging, target);
    } catch (e) {
      if (hadOld) await rename(old, target);
      throw e;
    }
    if (hadOld) await rm(old, { recursive: true, force: true });
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    throw new McpPolicyError('write_failed', `cannot write ${target}: ${(e as Error).message}`, { cause: e });
  }
}
