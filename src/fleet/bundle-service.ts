/**
 * A bundle service in OPA's distribution protocol: `GET /bundles/<name>.tar.gz`
 * with the revision as ETag and 304 on If-None-Match, so OPA servers and
 * `mcp-policy serve --bundle-url` poll it cheaply. It serves what is on disk
 * at each request (a `compile -o` that swaps the folder atomically is picked
 * up at once); it does not vouch for bundles: clients verify signatures.
 * It serves regular files inside its folder only: never through a symbolic
 * link, never a FIFO or a device.
 */
import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, open, readdir, realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { join, resolve, sep } from 'node:path';
import { contentRevision, isContentRevision, readBundleFiles, checkManifest } from '../bundle/read.js';
import { McpPolicyError } from '../core/errors.js';

/** Options of {@link startBundleService}. */
export interface BundleServiceOptions {
  /** Folder whose compiled outputs (`<name>/bundle.tar.gz`) and `<name>.tar.gz` files are served. */
  readonly dir: string;
  /** Host to listen on (default 127.0.0.1: loopback unless asked). */
  readonly host?: string;
  /** Port (default 8282; 0 picks a free one). */
  readonly port?: number;
}

/** A running bundle service. */
export interface BundleService {
  /** Base URL, e.g. `http://127.0.0.1:8282`. */
  readonly url: string;
  /** Stops accepting connections and waits for open ones to finish. */
  close(): Promise<void>;
}

/** How a bundle is named in URLs and on disk: no path separators, no leading dot. */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

interface Served {
  readonly key: string;
  readonly bytes: Buffer;
  readonly etag: string;
}

/**
 * The ETag of a bundle: its revision when the revision is mcp-policy's content
 * hash and matches the content; otherwise a hash of the bytes, so a changed
 * file is never hidden behind a 304 for a revision it does not have.
 */
export function bundleEtag(bytes: Uint8Array): string {
  try {
    const files = readBundleFiles(bytes);
    const manifest = checkManifest(JSON.parse(new TextDecoder().decode(files.get('.manifest') ?? new Uint8Array())));
    if (isContentRevision(manifest.revision) && contentRevision(files) === manifest.revision) {
      return `"${manifest.revision}"`;
    }
  } catch {
    // Not a readable bundle: fall through to the byte hash; clients will refuse it.
  }
  return `"sha256-${createHash('sha256').update(bytes).digest('hex')}"`;
}

/**
 * Opens without following a symbolic link in the last component, and without
 * waiting for a writer should the file have become a FIFO since it was looked
 * at (where the platform has the flags).
 */
const NO_FOLLOW = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

const sameFile = (a: Stats, b: Stats): boolean => a.dev === b.dev && a.ino === b.ino;

/** Answers requests for one folder; kept apart from the socket so it can be measured and tested alone. */
export class BundleFolder {
  private readonly cache = new Map<string, Served>();
  readonly root: string;
  /** The folder's real path, resolved once: the folder itself may be reached through a link, its entries not. */
  private realRoot: Promise<string> | undefined;

  constructor(dir: string) {
    this.root = resolve(dir);
  }

  private real(): Promise<string> {
    // A failure is not kept: the folder may appear later.
    return (this.realRoot ??= realpath(this.root).catch((e: unknown) => {
      this.realRoot = undefined;
      throw e;
    }));
  }

  /** Where a bundle of this name may be, each a path whose every component below the folder must be real. */
  private candidates(name: string): [dir: string | undefined, file: string][] {
    return [
      [join(this.root, name), join(this.root, name, 'bundle.tar.gz')],
      [undefined, join(this.root, `${name}.tar.gz`)],
    ];
  }

  /** Whether a path inside the folder is, as far as its names tell, a regular file reached without any link. */
  private async plainFile(dir: string | undefined, file: string): Promise<boolean> {
    if (dir !== undefined && !(await lstat(dir).catch(() => undefined))?.isDirectory()) return false;
    return (await lstat(file).catch(() => undefined))?.isFile() === true;
  }

  /**
   * Reads a candidate, or undefined when it is missing or not a regular file
   * inside the folder. The file is opened without following a link, checked
   * through its descriptor, and then found again by its real path inside the
   * folder (same device and inode), so a link anywhere below the folder, or a
   * folder swapped for one while this runs, is refused; the bytes are read from
   * the descriptor that was checked.
   */
  private async read(name: string, dir: string | undefined, file: string): Promise<Served | undefined> {
    if (!(await this.plainFile(dir, file))) return undefined;
    const handle = await open(file, NO_FOLLOW).catch(() => undefined);
    if (handle === undefined) return undefined;
    try {
      const s = await handle.stat();
      if (!s.isFile()) return undefined;
      const root = await this.real().catch(() => undefined);
      if (root === undefined) return undefined;
      const real = await realpath(file).catch(() => undefined);
      if (real === undefined || !real.startsWith(root.endsWith(sep) ? root : root + sep)) return undefined;
      const there = await stat(real).catch(() => undefined);
      if (there === undefined || !sameFile(s, there)) return undefined;
      const key = `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
      const cached = this.cache.get(name);
      if (cached?.key === key) return cached;
      const bytes = await handle.readFile();
      const served = { key, bytes, etag: bundleEtag(bytes) };
      this.cache.set(name, served);
      return served;
    } finally {
      await handle.close();
    }
  }

  /** The bundle as on disk now, or undefined; re-read only when the file changed (inode, size or time). */
  async get(name: string): Promise<Served | undefined> {
    if (!NAME.test(name)) return undefined;
    for (const [dir, file] of this.candidates(name)) {
      const served = await this.read(name, dir, file);
      if (served !== undefined) return served;
    }
    return undefined;
  }

  /** Names of the bundles in the folder now: regular files reached without links. */
  async list(): Promise<string[]> {
    const entries = await readdir(this.root, { withFileTypes: true });
    const names: string[] = [];
    for (const e of entries) {
      if (e.isFile() && e.name.endsWith('.tar.gz')) names.push(e.name.slice(0, -'.tar.gz'.length));
      else if (e.isDirectory() && (await this.plainFile(...this.candidates(e.name)[0]!))) names.push(e.name);
    }
    return names.filter((n) => NAME.test(n)).sort();
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** True when an If-None-Match header names this ETag (or is `*`). */
function matches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || t === etag);
}

async function handle(folder: BundleFolder, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, 405, {
      code: 'method_not_allowed',
      message: `method ${JSON.stringify(req.method)} is not allowed`,
    });
  }
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (path === '/health') {
    try {
      const bundles = await folder.list();
      return send(res, 200, { status: 'ok', bundles });
    } catch {
      return send(res, 503, { status: 'unavailable', code: 'read_failed', message: `cannot read ${folder.root}` });
    }
  }
  const m = /^\/bundles\/([^/]+)\.tar\.gz$/.exec(path);
  let name: string | undefined;
  try {
    name = m ? decodeURIComponent(m[1]!) : undefined;
  } catch {
    return send(res, 400, {
      code: 'bad_request',
      message: `path ${JSON.stringify(path)} is not valid percent-encoding`,
    });
  }
  const served = name !== undefined ? await folder.get(name) : undefined;
  if (!served) return send(res, 404, { code: 'not_found', message: `no bundle at ${JSON.stringify(path)}` });
  const headers = { etag: served.etag, 'cache-control': 'no-cache' };
  if (matches(req.headers['if-none-match'], served.etag)) {
    res.writeHead(304, headers);
    return void res.end();
  }
  res.writeHead(200, { ...headers, 'content-type': 'application/gzip', 'content-length': served.bytes.length });
  res.end(req.method === 'HEAD' ? undefined : served.bytes);
}

/** Parses `HOST:PORT` (IPv6 in brackets); either part may be left out. */
export function parseAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*))(?::(\d+))?$/.exec(addr);
  const port = m?.[3] === undefined ? 8282 : Number(m[3]);
  if (!m || port > 65535) throw new McpPolicyError('usage', `address ${JSON.stringify(addr)} is not HOST:PORT`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/** Starts a bundle service on a folder. */
export async function startBundleService(options: BundleServiceOptions): Promise<BundleService> {
  const folder = new BundleFolder(options.dir);
  await folder.list().catch((e: NodeJS.ErrnoException) => {
    throw new McpPolicyError(
      'read_failed',
      `cannot read bundle folder ${JSON.stringify(folder.root)}: ${e.code ?? e.message}`,
    );
  });
  const server: Server = createServer((req, res) => {
    handle(folder, req, res).catch(() => {
      if (!res.headersSent) send(res, 500, { code: 'internal', message: 'internal error' });
      else res.destroy();
    });
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(
        new McpPolicyError(
          'listen_failed',
          `cannot listen on ${options.host ?? '127.0.0.1'}:${options.port ?? 8282}: ${e.code ?? e.message}`,
        ),
      ),
    );
    server.listen(options.port ?? 8282, options.host ?? '127.0.0.1', () => ok());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeIdleConnections();
      }),
  };
}
