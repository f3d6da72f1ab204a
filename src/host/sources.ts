/**
 * The one way every front end opens a policy: `eval`, `config`, `test`,
 * `serve` and `proxy` name their sources alike (a file that is a compiled
 * bundle or a policy document, and the layering and enterprise options), and
 * get an engine or bundle bytes back, with every document problem as an issue
 * that names its file. Nothing here prints: callers decide how to report.
 */
import { readFile } from 'node:fs/promises';
import { isGzip, isWasmModule } from '../bundle/read.js';
import { type VerificationOptions } from '../bundle/signature.js';
import { type CompileExtras } from '../core/contracts.js';
import { type Issue, McpPolicyError, PolicyValidationError } from '../core/errors.js';
import { type Validation, validation } from '../core/validation.js';
import { decodeUtf8 } from '../diagnostics/text.js';
import { type Engine, type EngineName } from '../engines/engine.js';
import { openEngine } from '../engines/open.js';
import { openWasmBytes, siblingData, WasmEngine } from '../engines/wasm.js';
import { type EnterpriseConfig } from '../enterprise/model.js';
import { parseEnterpriseConfig } from '../enterprise/validate.js';
import { compilePolicy, generatePolicy } from '../pipeline/build.js';
import { type PolicyLayer, resolveBundleSources } from '../policy/layers.js';
import { type Policy } from '../policy/model.js';
import { parsePolicy } from '../policy/validate.js';

/** Where a policy comes from, as every command and host names it. */
export interface PolicySources {
  /** A bundle.tar.gz, policy.wasm, policy (JSON or YAML) or Docker admin-settings.json. */
  readonly file?: string;
  /** A Stacklok enterprise config (YAML or JSON) whose directives apply before the rules. */
  readonly enterprise?: string;
  /** The policy set in Docker's Admin Console; takes precedence over admin-settings.json. */
  readonly adminConsole?: string;
  /** The user's own policy; replaces an admin policy that is not locked. */
  readonly userPolicy?: string;
  /** Only a bundle whose signature verifies with this key is accepted (and then only a bundle). */
  readonly verification?: VerificationOptions;
  /** The engine to open (default `wasm`); a compiled bundle opens in `wasm` only. */
  readonly engine?: EngineName;
}

/** A problem in one of the source files. */
export interface SourceIssue extends Issue {
  /** The file the issue is in, as it was named. */
  readonly file: string;
}

/** What valid sources amount to: a compiled bundle as it is, or the policy in force and what goes with it. */
export type ResolvedSources =
  | { readonly kind: 'bundle'; readonly file: string; readonly bytes: Uint8Array }
  | { readonly kind: 'policy'; readonly policy: Policy; readonly extras: CompileExtras };

type SourcesValidation<T> = Validation<T, SourceIssue>;

async function readBytes(file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (e) {
    throw new McpPolicyError('read_failed', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, {
      cause: e,
    });
  }
}

function isCompiled(bytes: Uint8Array): boolean {
  return isGzip(bytes) || isWasmModule(bytes);
}

function inFile(file: string, issues: readonly Issue[]): SourceIssue[] {
  return issues.map((issue) => ({ ...issue, file }));
}

/**
 * The text of a document that must not be a compiled bundle; an undecodable
 * file is an `invalid_encoding` issue. Throws `read_failed`, or `usage` for a
 * compiled bundle (`needs` says what is wanted instead).
 */
async function documentText(
  file: string,
  needs: string,
  read: Uint8Array | undefined = undefined,
): Promise<SourcesValidation<string>> {
  const bytes = read ?? (await readBytes(file));
  if (isCompiled(bytes)) throw new McpPolicyError('usage', `${file} is a compiled bundle; ${needs}`);
  const decoded = decodeUtf8(bytes);
  if ('issue' in decoded) return validation<string, SourceIssue>(undefined, inFile(file, [decoded.issue]));
  return validation(decoded.text, []);
}

const NEEDS_POLICY = 'give the policy file (JSON or YAML)';

/**
 * Reads one policy file (bare or admin-settings.json). Throws `read_failed`,
 * or `usage` when the file is a compiled bundle (`needs` says what to give instead).
 */
export function readPolicyFile(file: string, needs = NEEDS_POLICY): Promise<SourcesValidation<PolicyLayer>> {
  return policyLayer(file, undefined, needs);
}

async function policyLayer(
  file: string,
  bytes?: Uint8Array,
  needs = NEEDS_POLICY,
): Promise<SourcesValidation<PolicyLayer>> {
  const text = await documentText(file, needs, bytes);
  if (text.value === undefined) return validation<PolicyLayer, SourceIssue>(undefined, text.errors);
  const r = parsePolicy(text.value);
  const layer = r.value && { ...r.value, file };
  return validation(layer, inFile(file, r.errors), inFile(file, r.warnings));
}

/**
 * The text of a policy file for readers that validate it themselves (the
 * case runner). Throws `read_failed`, `usage` for a compiled bundle, and
 * {@link PolicyValidationError} for a file that is not UTF-8.
 */
export async function readPolicyText(file: string): Promise<string> {
  const text = await documentText(file, NEEDS_POLICY);
  if (text.value === undefined) throw new PolicyValidationError(text.errors, file);
  return text.value;
}

async function readEnterpriseFile(file: string): Promise<SourcesValidation<EnterpriseConfig>> {
  const text = await documentText(file, 'give the enterprise config (YAML or JSON)');
  if (text.value === undefined) return validation<EnterpriseConfig, SourceIssue>(undefined, text.errors);
  const r = parseEnterpriseConfig(text.value);
  return validation(r.value, inFile(file, r.errors), inFile(file, r.warnings));
}

/**
 * Reads and validates every source: a compiled bundle is taken as it is
 * (compile options and other engines than wasm apply to policy files only);
 * policy files are layered as Docker does and the enterprise config goes
 * with them. Every file is read, so all issues show at once. Throws `usage`
 * (no source, a bundle with compile options, a verification key without a
 * bundle) and `read_failed`.
 */
export async function readSources(sources: PolicySources): Promise<SourcesValidation<ResolvedSources>> {
  const { file, enterprise, adminConsole, userPolicy } = sources;
  if (file === undefined && enterprise === undefined && adminConsole === undefined && userPolicy === undefined) {
    throw new McpPolicyError('usage', 'give a policy or bundle file, --enterprise, --admin-console or --user-policy');
  }
  const bytes = file === undefined ? undefined : await readBytes(file);
  if (file !== undefined && bytes !== undefined && isCompiled(bytes)) {
    if (enterprise !== undefined || adminConsole !== undefined || userPolicy !== undefined) {
      throw new McpPolicyError('usage', `${file} is a compiled bundle; compile options apply to policy files only`);
    }
    return validation<ResolvedSources, SourceIssue>({ kind: 'bundle', file, bytes }, []);
  }
  if (sources.verification !== undefined) {
    throw new McpPolicyError('usage', '--verification-key checks bundles; give a bundle.tar.gz');
  }
  const layers = {
    policy: file === undefined ? undefined : await policyLayer(file, bytes),
    adminConsole: adminConsole === undefined ? undefined : await readPolicyFile(adminConsole),
    user: userPolicy === undefined ? undefined : await readPolicyFile(userPolicy),
  };
  const config = enterprise === undefined ? undefined : await readEnterpriseFile(enterprise);
  const all = [...Object.values(layers), config].filter((r) => r !== undefined);
  const errors = all.flatMap((r) => r.errors);
  const warnings = all.flatMap((r) => r.warnings);
  if (errors.length > 0) return validation<ResolvedSources, SourceIssue>(undefined, errors, warnings);
  const { policy, extras } = resolveBundleSources({
    ...(layers.policy?.value && { policy: layers.policy.value }),
    ...(layers.adminConsole?.value && { adminConsole: layers.adminConsole.value }),
    ...(layers.user?.value && { user: layers.user.value }),
    ...(config?.value && { enterprise: config.value }),
  });
  return validation<ResolvedSources, SourceIssue>({ kind: 'policy', policy, extras }, [], warnings);
}

/** An engine and the data it decides on (a bundle's data.json, or the policy lowered as a bundle would hold it). */
export interface OpenedSources {
  readonly engine: Engine;
  readonly data: unknown;
}

/**
 * Opens the engine on sources already read: a bundle in the wasm engine
 * (verified when a key is given; a bare policy.wasm with the data.json
 * beside it), a policy in the named engine. Throws `usage` for a bundle with
 * another engine, and the engines' load errors.
 */
export async function openResolved(
  resolved: ResolvedSources,
  options: Pick<PolicySources, 'engine' | 'verification'> = {},
): Promise<Engine> {
  if (resolved.kind === 'policy') return openEngine(options.engine ?? 'wasm', resolved.policy, resolved.extras);
  return (await openResolvedWithData(resolved, options)).engine;
}

/** {@link openResolved}, with the data the engine decides on, for hosts that read costs or rules from it. */
export async function openResolvedWithData(
  resolved: ResolvedSources,
  options: Pick<PolicySources, 'engine' | 'verification'> = {},
): Promise<OpenedSources> {
  const engine = options.engine ?? 'wasm';
  if (resolved.kind === 'policy') {
    const data = JSON.parse(generatePolicy(resolved.policy, resolved.extras).data) as unknown;
    return { engine: await openEngine(engine, resolved.policy, resolved.extras), data };
  }
  if (engine !== 'wasm') {
    throw new McpPolicyError(
      'usage',
      `${resolved.file} is a compiled bundle; the ${engine} engine needs the policy file (JSON or YAML)`,
    );
  }
  const data = isGzip(resolved.bytes) ? undefined : await siblingData(resolved.file);
  const opened = await openWasmBytes(resolved.bytes, { ...options.verification, data });
  return { engine: await WasmEngine.fromOpened(opened), data: opened.data };
}

/** Reads the sources and opens the engine they name; document problems come back as issues, nothing opened. */
export async function openSources(sources: PolicySources): Promise<SourcesValidation<Engine>> {
  const read = await readSources(sources);
  if (read.value === undefined) return validation<Engine, SourceIssue>(undefined, read.errors, read.warnings);
  return validation(await openResolved(read.value, sources), [], read.warnings);
}

/** {@link openSources}, with the data the engine decides on ({@link openResolvedWithData}). */
export async function openSourcesWithData(sources: PolicySources): Promise<SourcesValidation<OpenedSources>> {
  const read = await readSources(sources);
  if (read.value === undefined) return validation<OpenedSources, SourceIssue>(undefined, read.errors, read.warnings);
  return validation(await openResolvedWithData(read.value, sources), [], read.warnings);
}

/**
 * The bundle bytes for some sources, as a service loads them: a compiled
 * bundle as it is (verified later by its loader), a policy compiled with the
 * pinned opa.
 */
export async function sourcesBundle(sources: PolicySources): Promise<SourcesValidation<Uint8Array>> {
  const read = await readSources(sources);
  if (read.value === undefined) return validation<Uint8Array, SourceIssue>(undefined, read.errors, read.warnings);
  const bytes =
    read.value.kind === 'bundle'
      ? read.value.bytes
      : (await compilePolicy(read.value.policy, read.value.extras)).bundle;
  return validation(bytes, [], read.warnings);
}

/**
 * The value of a sources validation, or the error a library caller gets for
 * its first invalid file: `invalid_enterprise_config` for the enterprise
 * config, else a {@link PolicyValidationError} with that file's issues.
 */
export function validSources<T>(result: SourcesValidation<T>, sources: PolicySources): T {
  if (result.value !== undefined) return result.value;
  const file = result.errors[0]?.file ?? sources.file ?? 'policy';
  const issues = result.errors.filter((i) => i.file === file).map(({ file: _file, ...issue }) => issue);
  if (file === sources.enterprise && file !== sources.file) {
    const first = issues[0];
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    throw new McpPolicyError(
      'invalid_enterprise_config',
      `${file}: ${first ? `${first.path || '/'}: ${first.message}` : 'invalid enterprise config'}${more}`,
    );
  }
  throw new PolicyValidationError(issues, file);
}
