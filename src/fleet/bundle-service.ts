/**
 * A bundle service in OPA's distribution protocol: `GET /bundles/<name>.tar.gz`
 * with the revision as ETag and 304 on If-None-Match, so OPA servers and
 * `mcp-policy serve --bundle-url` poll it cheaply. It serves what is on disk
 * at each request (a `compile -o` that swaps the folder atomically is picked
 * up at once); it does not vouch for bundles: clients verify signatures.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
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

/** Answers requests for one folder; kept apart from the socket so it can be measured and tested alone. */
export class BundleFolder {
  private readonly cache = new Map<string, Served>();
  readonly root: string;

  constructor(dir: string) {
    this.root = resolve(dir);
  }

  private async pathOf(name: string): Promise<string | undefined> {
    for (const candidate of [join(this.root, name, 'bundle.tar.gz'), join(this.root, `${name}.tar.gz`)]) {
      const s = await stat(candidate).catch(() => undefined);
      if (s?.isFile()) return candidate;
    }
    return undefined;
  }

  /** The bundle as on disk now, or undefined; re-read only when the file changed (inode, size or time). */
  async get(name: string): Promise<Served | undefined> {
    if (!NAME.test(name)) return undefined;
    const path = await this.pathOf(name);
    if (path === undefined) return undefined;
    const s = await stat(path).catch(() => undefined);
    if (!s) return undefined;
    const key = `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
    const cached = this.cache.get(name);
    if (cached?.key === key) return cached;
    const bytes = await readFile(path).catch(() => undefined);
    if (!bytes) return undefined;
    const served = { key, bytes, etag: bundleEtag(bytes) };
    this.cache.set(name, served);
    return served;
  }

  /** Names of the bundles in the folder now. */
  async list(): Promise<string[]> {
    const entries = await readdir(this.root, { withFileTypes: true });
    const names: string[] = [];
    for (const e of entries) {
      if (e.isFile() && e.name.endsWith('.tar.gz')) names.push(e.name.slice(0, -'.tar.gz'.length));
      else if (e.isDirectory() && (await this.pathOf(e.name)) !== undefined) names.push(e.name);
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
  const served = m ? await folder.get(decodeURIComponent(m[1]!)) : undefined;
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
