/**
 * Stage 4: build. Generates the Rego module for a policy and compiles it,
 * with the static helpers, to a WebAssembly bundle through `opa build -t wasm`.
 * Output is deterministic (the bundle revision is a content hash and opa
 * writes fixed tar metadata) and written atomically: a failed build leaves the
 * output folder as it was.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { contentRevision, readBundleFiles, readWasmBundle, SIGNATURES_FILE, writeBundle } from '../bundle/read.js';
import { crashPoint } from '../core/crash-points.js';
import { fileSystemError, McpPolicyError, OpaError } from '../core/errors.js';
import { replaceFolder } from '../bundle/output-folder.js';
import { makeTempDir } from '../core/temp-dirs.js';
import { lower } from './lower.js';
import { PACKAGE_ROOT, runOpa } from '../opa/cli.js';
import { type Policy } from '../policy/model.js';
import { ensureValidPolicy } from '../policy/validate.js';
import {
  BATCH_ENTRYPOINT,
  type CompileExtras,
  CONFIG_ENTRYPOINT,
  DECISION_ENTRYPOINT,
  POLICY_PACKAGE,
  type EmbeddedCases,
  SELF_TEST_ROOT,
} from '../core/contracts.js';
import { bundleData, emitRego, usesNgrams } from './emit.js';

export { type CompileExtras } from '../core/contracts.js';

/** Path of the static helper module that every generated module imports. */
export const LIB_REGO_PATH = join(PACKAGE_ROOT, 'rego', 'mcp_policy', 'lib.rego');
/** Path of the static helpers of version 2 policies, in their bundles only. */
export const V2_REGO_PATH = join(PACKAGE_ROOT, 'rego', 'mcp_policy', 'v2.rego');
/** Path of the n-gram helpers, in the bundles of policies whose index files rules under n-grams only. */
export const NGRAM_REGO_PATH = join(PACKAGE_ROOT, 'rego', 'mcp_policy', 'ngram.rego');
/** Capabilities of the wasm target: the builtins it runs natively, without RE2. */
export const WASM_CAPABILITIES_PATH = join(PACKAGE_ROOT, 'wasm', 'capabilities.json');

/** The Rego sources of a compiled policy, as files of one bundle. */
export interface RegoSources {
  /** The generated module (package mcp_policy). */
  readonly policy: string;
  /** The static helpers (package mcp_policy.lib). */
  readonly lib: string;
  /** The static helpers of version 2 (package mcp_policy.v2), for a version 2 policy only. */
  readonly v2?: string;
  /** The n-gram helpers (package mcp_policy.ngram), for a policy whose index uses them only. */
  readonly ngram?: string;
  /** The bundle's data.json: the lowered rules, their index and any enterprise directives. */
  readonly data: string;
  /** True when the module answers `config` (it carries enterprise directives). */
  readonly config?: boolean;
  /** Case tables the bundle carries for hosts to self-test it before use (`compile --cases`). */
  readonly cases?: readonly EmbeddedCases[];
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

/** The Rego module and data.json text for a validated policy. Pure and deterministic. */
export function generatePolicy(
  policy: Policy,
  extras: CompileExtras = {},
): { rego: string; data: string; ngram: boolean } {
  const lowered = lower(ensureValidPolicy(policy), extras);
  return {
    rego: emitRego(lowered),
    data: `${JSON.stringify(bundleData([{ packageName: POLICY_PACKAGE, data: lowered.data }]))}\n`,
    ngram: usesNgrams(lowered.data),
  };
}

/** Generates the Rego module for a validated policy (its rules are in {@link generatePolicy}'s data). */
export function generateRego(policy: Policy, extras: CompileExtras = {}): string {
  return generatePolicy(policy, extras).rego;
}

let libText: Promise<string> | undefined;

/** The static helper module's text. */
export function readLibRego(): Promise<string> {
  libText ??= readFile(LIB_REGO_PATH, 'utf8');
  return libText;
}

let v2Text: Promise<string> | undefined;

/** The static helper module of version 2 policies' text. */
export function readV2Rego(): Promise<string> {
  v2Text ??= readFile(V2_REGO_PATH, 'utf8');
  return v2Text;
}

let ngramText: Promise<string> | undefined;

/** The n-gram helper module's text. */
export function readNgramRego(): Promise<string> {
  ngramText ??= readFile(NGRAM_REGO_PATH, 'utf8');
  return ngramText;
}

/** The generated and static Rego for a policy. */
export async function regoSources(policy: Policy, extras: CompileExtras = {}): Promise<RegoSources> {
  const { rego, data, ngram } = generatePolicy(policy, extras);
  return {
    policy: rego,
    data,
    lib: await readLibRego(),
    // Only version 2 bundles carry it: a version 1 bundle stays byte for byte what it was before version 2.
    ...(policy.version === 2 && { v2: await readV2Rego() }),
    // Likewise only the bundles of policies whose index files rules under n-grams.
    ...(ngram && { ngram: await readNgramRego() }),
    config: extras.enterprise !== undefined,
    ...(extras.cases && extras.cases.length > 0 && { cases: extras.cases }),
  };
}

/**
 * Writes the sources under `dir` in the layout opa sees: mcp_policy/{policy,lib}.rego
 * (and v2.rego for a version 2 policy, ngram.rego for one whose index uses n-grams) and mcp_policy/data.json, with `mcp_policy`
 * the root opa is given.
 */
export async function writeSources(dir: string, sources: RegoSources): Promise<void> {
  await mkdir(join(dir, 'mcp_policy'), { recursive: true });
  await writeFile(join(dir, 'mcp_policy', 'policy.rego'), sources.policy);
  await writeFile(join(dir, 'mcp_policy', 'lib.rego'), sources.lib);
  if (sources.v2 !== undefined) await writeFile(join(dir, 'mcp_policy', 'v2.rego'), sources.v2);
  if (sources.ngram !== undefined) await writeFile(join(dir, 'mcp_policy', 'ngram.rego'), sources.ngram);
  await writeFile(join(dir, 'mcp_policy', 'data.json'), sources.data);
}

/**
 * How to sign a bundle, the way OPA does: a `.signatures.json` JWT over the
 * hashes of every file.
 */
export interface SigningOptions {
  /** PEM private key (RSA or EC) or HMAC secret, as text. */
  readonly signingKey: string;
  /** JWS algorithm (default RS256, OPA's default). */
  readonly signingAlg?: string;
  /** Key id recorded in the signature; OPA picks its verification key by it (default `default`). */
  readonly keyId?: string;
}

/** What bounds a build besides its inputs. */
export interface BuildOptions {
  /**
   * How long each opa run may take before it is killed (`opa_timeout`); opa's own limit otherwise. A caller
   * that stops waiting at a deadline passes it, so no opa outlives the answer.
   */
  readonly timeoutMs?: number;
}

/** Runs `opa build` in bundle mode over the sources in `work/src`; resolves with the bundle it wrote. */
async function opaBuild(work: string, sources: RegoSources, options: BuildOptions): Promise<Uint8Array> {
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
    { cwd: join(work, 'src'), ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }) },
  );
  return readFile(join(work, 'content.tar.gz')).then(
    (b) => new Uint8Array(b),
    () => {
      throw new OpaError('opa_no_output', 'opa build reported success but wrote no bundle');
    },
  );
}

/** Signs a stamped bundle with `opa sign`; resolves with the `.signatures.json` it wrote. */
async function opaSign(
  work: string,
  bundle: Uint8Array,
  signing: SigningOptions,
  options: BuildOptions,
): Promise<Uint8Array> {
  // opa reads the key from a file; an owner-only one inside the build folder goes away with it.
  try {
    await writeFile(join(work, 'signing.key'), signing.signingKey, { mode: 0o600 });
    await writeFile(join(work, 'claims.json'), JSON.stringify({ keyid: signing.keyId ?? 'default' }));
    await writeFile(join(work, 'unsigned.tar.gz'), bundle);
  } catch (e) {
    throw fileSystemError(e, 'write the bundle to sign into', work);
  }
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
    { cwd: work, ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }) },
  );
  return readFile(join(work, SIGNATURES_FILE)).then(
    (b) => new Uint8Array(b),
    () => {
      throw new OpaError('opa_no_output', 'opa sign reported success but wrote no signature');
    },
  );
}

/**
 * Compiles Rego sources to a wasm bundle with the pinned opa. The revision is
 * the hash of the built content (see contentRevision), known only once opa
 * has built it, so it is stamped into the manifest afterwards; signing (by
 * `opa sign`, over the stamped bundle) comes last, and loading the result
 * checks it all.
 */
export async function buildWasm(
  sources: RegoSources,
  signing?: SigningOptions,
  options: BuildOptions = {},
): Promise<CompiledPolicy> {
  const work = await makeTempDir('build');
  try {
    try {
      await writeSources(join(work, 'src'), sources);
      // opa build runs on the folder above mcp_policy/ (so the Rego keeps its path in the bundle), where a
      // data.json would be nested once more under its folder name; the data already names its root.
      await rename(join(work, 'src', 'mcp_policy', 'data.json'), join(work, 'src', 'data.json'));
      if (sources.cases) {
        // A data document beside the modules: OPA ships it in data.json (so the content revision covers it).
        await mkdir(join(work, 'src', SELF_TEST_ROOT), { recursive: true });
        await writeFile(join(work, 'src', SELF_TEST_ROOT, 'data.json'), JSON.stringify({ tables: sources.cases }));
      }
    } catch (e) {
      throw fileSystemError(e, 'write the sources into', work);
    }
    crashPoint('build:sources-written');
    const files = readBundleFiles(await opaBuild(work, sources, options));
    crashPoint('build:built');
    const encoder = new TextEncoder();
    // opa build strips the entrypoint rules out of the Rego and names policy.wasm as their resolver, so an
    // OPA server would run the policy through its own wasm runtime, which returns corrupted results (500s)
    // under concurrent queries around a bundle activation. The complete Rego, and no resolver, make OPA
    // decide with its interpreter; wasm hosts read policy.wasm by its standard name.
    for (const [path, text] of [
      ['mcp_policy/policy.rego', sources.policy],
      ['mcp_policy/lib.rego', sources.lib],
      ...(sources.v2 === undefined ? [] : [['mcp_policy/v2.rego', sources.v2] as const]),
      ...(sources.ngram === undefined ? [] : [['mcp_policy/ngram.rego', sources.ngram] as const]),
    ] as const) {
      if (!files.has(path)) throw new OpaError('opa_no_output', `opa build wrote no ${path} into the bundle`);
      files.set(path, encoder.encode(text));
    }
    const { wasm: _resolvers, ...manifest } = JSON.parse(new TextDecoder().decode(files.get('.manifest'))) as Record<
      string,
      unknown
    >;
    const revision = contentRevision(files);
    files.set('.manifest', encoder.encode(JSON.stringify({ ...manifest, revision })));
    if (signing !== undefined) files.set(SIGNATURES_FILE, await opaSign(work, writeBundle(files), signing, options));
    const bundle = writeBundle(files);
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
  options: BuildOptions = {},
): Promise<CompiledPolicy> {
  return buildWasm(await regoSources(policy, extras), signing, options);
}

/** Files of an output folder, by name. */
export const OUTPUT_FILES = ['policy.rego', 'lib.rego', 'data.json', 'bundle.tar.gz', 'policy.wasm'] as const;

/** The file an output folder holds besides {@link OUTPUT_FILES} for a version 2 policy. */
export const V2_OUTPUT_FILE = 'v2.rego';

/** The file an output folder holds besides {@link OUTPUT_FILES} for a policy whose index uses n-grams. */
export const NGRAM_OUTPUT_FILE = 'ngram.rego';

/**
 * Writes a compiled policy to `outDir` (policy.rego, lib.rego, data.json,
 * bundle.tar.gz, policy.wasm, v2.rego for a version 2 policy and ngram.rego for one whose index uses n-grams). The folder is replaced as a whole (see output-folder.ts), so
 * readers never see a mix of old and new files, and a kill at any point leaves
 * the old or the new folder. An existing `outDir` that holds anything else is
 * refused rather than replaced.
 */
export async function writeOutput(compiled: CompiledPolicy, outDir: string): Promise<void> {
  const target = resolve(outDir);
  const existing = await readdir(target).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [];
    if (e.code === 'ENOTDIR') throw new McpPolicyError('output_not_empty', `${target} exists and is not a folder`);
    throw fileSystemError(e, 'read', target);
  });
  const ours: readonly string[] = [...OUTPUT_FILES, V2_OUTPUT_FILE, NGRAM_OUTPUT_FILE];
  const foreign = existing.filter((name) => !ours.includes(name));
  if (foreign.length > 0) {
    throw new McpPolicyError(
      'output_not_empty',
      `${target} holds files mcp-policy did not write (${foreign
        .slice(0, 3)
        .map((n) => JSON.stringify(n))
        .join(', ')}); choose another output folder`,
    );
  }
  await replaceFolder(target, {
    'policy.rego': compiled.policy,
    'lib.rego': compiled.lib,
    'data.json': compiled.data,
    'bundle.tar.gz': compiled.bundle,
    'policy.wasm': compiled.wasm,
    ...(compiled.v2 !== undefined && { [V2_OUTPUT_FILE]: compiled.v2 }),
    ...(compiled.ngram !== undefined && { [NGRAM_OUTPUT_FILE]: compiled.ngram }),
  } satisfies Record<(typeof OUTPUT_FILES)[number], string | Uint8Array>);
}
