/**
 * Tool pinning: a lock file records a digest of each approved tool's
 * definition, so a server cannot silently change what an approved tool says
 * it does. A tool whose definition no longer matches is withheld until the
 * lock file is updated (`--pin-update`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { McpPolicyError } from '../core/errors.js';
import { sortKeysDeep } from '../diagnostics/json.js';

/** The parts of an MCP tool definition a client shows to the model; the digest covers exactly these. */
export const PINNED_FIELDS = ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations'] as const;

/** The lock file: per server, tool name → `sha256:<hex>` of the pinned fields. */
export interface LockFile {
  readonly version: 1;
  readonly servers: Record<string, Record<string, string>>;
}

/** The digest of a tool definition: SHA-256 of the pinned fields as canonical JSON. */
export function toolDigest(tool: Readonly<Record<string, unknown>>): string {
  const pinned: Record<string, unknown> = {};
  for (const f of PINNED_FIELDS) if (tool[f] !== undefined) pinned[f] = tool[f];
  return `sha256:${createHash('sha256')
    .update(JSON.stringify(sortKeysDeep(pinned)))
    .digest('hex')}`;
}

function lockError(path: string, pointer: string, message: string): McpPolicyError {
  return new McpPolicyError('invalid_lock_file', `${path}: ${pointer || '/'}: ${message}`);
}

/** Reads and checks a lock file; a missing file is an empty lock. */
export async function readLockFile(path: string): Promise<LockFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, servers: {} };
    throw new McpPolicyError('read_failed', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? ''}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw lockError(path, '', `invalid JSON: ${(e as Error).message.toLowerCase()}`);
  }
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(doc)) throw lockError(path, '', 'a lock file must be a JSON object');
  if (doc.version !== 1) throw lockError(path, '/version', `unsupported version ${JSON.stringify(doc.version)}`);
  if (!isObject(doc.servers)) throw lockError(path, '/servers', '"servers" must be an object');
  for (const [server, tools] of Object.entries(doc.servers)) {
    if (!isObject(tools)) throw lockError(path, `/servers/${server}`, 'must be an object of tool digests');
    for (const [tool, digest] of Object.entries(tools)) {
      if (typeof digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
        throw lockError(path, `/servers/${server}/${tool}`, `not a digest: ${JSON.stringify(digest)}`);
      }
    }
  }
  return doc as unknown as LockFile;
}

/** Writes a file so readers see the old or the new content, never a part. */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, text, { mode: 0o644 });
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw new McpPolicyError('write_failed', `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? ''}`);
  }
}

/** What pinning says about one tool. */
export type PinVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * The pins of one server. When the lock file has no entry for the server yet
 * (trust on first use), or with `--pin-update`, the server's first complete
 * tool listing (all of its pages) is recorded: each tool as it was first
 * listed, and nothing after. Every other definition is checked against the
 * lock, so a tool that changes after its first listing is a mismatch even in
 * the session that recorded it.
 */
export class ToolPins {
  private writing: Promise<void> = Promise.resolve();
  private firstListing: boolean;
  /** Tools recorded during the first listing; a second sighting is checked, never recorded. */
  private readonly recorded = new Set<string>();
  private digests: Record<string, string>;

  private constructor(
    readonly path: string,
    readonly server: string,
    recording: boolean,
    private lock: LockFile,
  ) {
    this.firstListing = recording;
    this.digests = { ...(lock.servers[server] ?? {}) };
  }

  static async open(path: string, server: string, update: boolean): Promise<ToolPins> {
    const lock = await readLockFile(path);
    return new ToolPins(path, server, update || lock.servers[server] === undefined, lock);
  }

  /** True until the first complete listing has been recorded. */
  get recording(): boolean {
    return this.firstListing;
  }

  /** Checks a tool against the pins recorded so far; a tool without one is not pinned. */
  check(tool: Readonly<Record<string, unknown>>): PinVerdict {
    const name = String(tool.name);
    const pinned = Object.hasOwn(this.digests, name) ? this.digests[name] : undefined;
    if (pinned === undefined) {
      return { ok: false, reason: `tool "${name}" is not pinned in ${this.path}; approve it with --pin-update` };
    }
    if (pinned !== toolDigest(tool)) {
      return {
        ok: false,
        reason: `tool "${name}" changed since it was pinned in ${this.path}; review it and run with --pin-update`,
      };
    }
    return { ok: true };
  }

  /**
   * One page of a tool listing, its tools already approved by the policy.
   * During the first listing a tool seen for the first time is recorded; every
   * other tool is checked. The page without a next cursor ends the first
   * listing and writes the lock file atomically.
   */
  async observe(tools: readonly Readonly<Record<string, unknown>>[], lastPage: boolean): Promise<PinVerdict[]> {
    const verdicts = tools.map((tool): PinVerdict => {
      const name = String(tool.name);
      if (this.firstListing && !this.recorded.has(name)) {
        this.recorded.add(name);
        this.digests = { ...this.digests, [name]: toolDigest(tool) };
        return { ok: true };
      }
      return this.check(tool);
    });
    if (this.firstListing && lastPage) {
      this.firstListing = false;
      this.lock = { version: 1, servers: { ...this.lock.servers, [this.server]: this.digests } };
      const text = `${JSON.stringify(sortKeysDeep(this.lock), null, 2)}\n`;
      // Writes are queued so concurrent sessions cannot reorder them.
      const write = this.writing.then(() => writeFileAtomic(this.path, text));
      this.writing = write.catch(() => undefined);
      await write;
    }
    return verdicts;
  }
}
