/**
 * The playground's local server: the built app (`dist/playground/`) and the
 * endpoints that need opa (compile a bundle, decide with its wasm). It binds
 * loopback only and checks `Host` and `Origin` on every request, so neither
 * another machine nor a web page from another site (DNS rebinding, CSRF) can
 * use it; nothing it serves comes from or goes to the network.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { describeThrown, type ErrorCode, McpPolicyError } from '../core/errors.js';
import { WasmEngine } from '../engines/wasm.js';
import { OPA_VERSION, PACKAGE_ROOT, resolveOpa } from '../opa/cli.js';
import { type PolicyProfile, policyProfile, workOn } from '../host/policy-profile.js';
import { compilePolicy } from '../pipeline/build.js';
import { resolveBundleSources } from '../policy/layers.js';
import { parsePolicy } from '../policy/validate.js';
import { isLoopbackHost } from '../server/authentication.js';
import { listenTcp } from '../server/listen.js';

/** Where `npm run build:playground` writes the app. */
export const PLAYGROUND_DIR = join(PACKAGE_ROOT, 'dist', 'playground');

/** What {@link startPlayground} takes. */
export interface PlaygroundOptions {
  /** A loopback address; anything else is a `usage` error. */
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** The policy the command was started with: the diff view's baseline. */
  readonly initial?: { readonly name: string; readonly text: string };
  /** The built app (default {@link PLAYGROUND_DIR}). */
  readonly staticDir?: string;
  /** Largest request body in bytes (default 2 MiB). */
  readonly maxBody?: number;
  /** Most requests one `/api/decide` call may carry (default 1,000). */
  readonly maxRequests?: number;
  /**
   * Most work one `/api/decide` call may ask for, in rule checks, priced as `serve` prices a batch (default
   * 1,000,000, as `serve`'s): 413 `work_too_large` beyond. One request with short fields is always decided.
   */
  readonly maxWork?: number;
  /** How long one compile may take before the call is answered `opa_timeout` (default 60 s). */
  readonly compileTimeoutMs?: number;
  /** Compiled policies kept with their wasm engine, least recently used dropped first (default 8). */
  readonly cachedEngines?: number;
}

/** A running playground server. */
export interface PlaygroundServer {
  /** `http://127.0.0.1:PORT/`, with the bound port. */
  readonly url: URL;
  /** Stops accepting, ends open connections after the ones in flight are answered, frees the engines. */
  close(): Promise<void>;
}

export const DEFAULT_MAX_BODY = 2 * 1024 * 1024;
export const DEFAULT_MAX_REQUESTS = 1000;
export const DEFAULT_COMPILE_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_WORK = 1_000_000;
/** Compiles waiting beyond the one running: more is refused as `server_busy` rather than queued without end. */
const MAX_WAITING_COMPILES = 4;

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/** A refusal with its status and stable code; the body is `{"code", "message"}`. */
class PlaygroundError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

interface Compiled {
  readonly revision: string;
  readonly bundle: Uint8Array;
  /** What deciding costs on the policy, from the bundle's data. */
  readonly profile: PolicyProfile;
}

/** Starts the server; throws `usage` for an address off loopback, `address_in_use` or `listen_failed`. */
export async function startPlayground(options: PlaygroundOptions): Promise<PlaygroundServer> {
  if (!isLoopbackHost(options.host)) {
    throw new McpPolicyError(
      'usage',
      `--addr: the playground listens on loopback only (127.0.0.1, ::1 or localhost), not "${options.host}"`,
    );
  }
  const staticDir = resolve(options.staticDir ?? PLAYGROUND_DIR);
  const maxBody = options.maxBody ?? DEFAULT_MAX_BODY;
  const maxRequests = options.maxRequests ?? DEFAULT_MAX_REQUESTS;
  const maxWork = options.maxWork ?? DEFAULT_MAX_WORK;
  const compileTimeoutMs = options.compileTimeoutMs ?? DEFAULT_COMPILE_TIMEOUT_MS;
  const cacheSize = Math.max(1, options.cachedEngines ?? 8);
  let port = options.port;

  // One compile at a time: opa build is a process per call and the machine is the user's own. A compile
  // answered opa_timeout holds its place until its opa ends, which its opa's own timeout (the same deadline)
  // makes soon after, so timed-out compiles neither run side by side nor let more than MAX_WAITING_COMPILES
  // pile up behind them.
  let compiling: Promise<unknown> = Promise.resolve();
  let waiting = 0;
  const compileQueued = <T>(work: () => Promise<T>): Promise<T> => {
    if (waiting >= MAX_WAITING_COMPILES) {
      return Promise.reject(new PlaygroundError(429, 'server_busy', 'too many compiles are waiting; retry later'));
    }
    waiting++;
    const started = compiling.then(() => ({ work: work() }));
    const settled = started
      .then(({ work: w }) => w)
      .then(
        () => undefined,
        () => undefined,
      );
    compiling = settled;
    void settled.then(() => waiting--);
    return started.then(({ work: w }) => withTimeout(w, compileTimeoutMs));
  };

  /** Engines by text and name, most recently used last. */
  const engines = new Map<string, Promise<{ compiled: Compiled; engine: WasmEngine }>>();
  const closeEngine = (entry: Promise<{ engine: WasmEngine }>): void => {
    entry.then(({ engine }) => engine.close()).catch(() => undefined);
  };

  const compileText = (text: string, name: string): Promise<Compiled> => {
    const parsed = parsePolicy(text);
    if (!parsed.value) {
      return Promise.reject(
        new PlaygroundError(400, 'invalid_policy', 'the policy is not valid', { errors: parsed.errors }),
      );
    }
    // Layered as `mcp-policy compile <name>` layers the file, so the revision is the one compile prints.
    const { policy, extras } = resolveBundleSources({ policy: { ...parsed.value, file: name } });
    return compileQueued(async () => {
      const compiled = await compilePolicy(policy, extras, undefined, { timeoutMs: compileTimeoutMs });
      return { ...compiled, profile: policyProfile(JSON.parse(compiled.data) as unknown) };
    });
  };

  const engineFor = (text: string, name: string): Promise<{ compiled: Compiled; engine: WasmEngine }> => {
    const key = createHash('sha256').update(name).update('\0').update(text).digest('hex');
    let entry = engines.get(key);
    if (entry) {
      engines.delete(key);
    } else {
      entry = compileText(text, name).then(async (compiled) => ({
        compiled,
        engine: await WasmEngine.load(compiled.bundle),
      }));
      // A failure is not kept, so the next call tries again (opa may have been installed meanwhile).
      entry.catch(() => engines.delete(key));
    }
    engines.set(key, entry);
    while (engines.size > cacheSize) {
      const [oldest, old] = engines.entries().next().value!;
      engines.delete(oldest);
      closeEngine(old);
    }
    return entry;
  };

  const status = async (): Promise<unknown> => {
    const opa = await resolveOpa().then(
      () => true,
      () => false,
    );
    return {
      opa,
      ...(opa && { opaVersion: OPA_VERSION }),
      ...(options.initial && { initial: { name: options.initial.name, text: options.initial.text } }),
    };
  };

  const api = async (req: IncomingMessage, path: string): Promise<unknown> => {
    if (path === '/api/status') {
      allow(req, 'GET');
      return status();
    }
    if (path === '/api/compile') {
      allow(req, 'POST');
      const body = await readJsonBody(req, maxBody);
      const { text, name } = policyText(body);
      const compiled = await compileText(text, name);
      return { revision: compiled.revision, bundle: Buffer.from(compiled.bundle).toString('base64') };
    }
    if (path === '/api/decide') {
      allow(req, 'POST');
      const body = await readJsonBody(req, maxBody);
      const { text, name } = policyText(body);
      const requests = (body as { requests?: unknown }).requests;
      if (!Array.isArray(requests)) {
        throw new PlaygroundError(400, 'invalid_requests', 'requests must be an array of requests', {
          pointer: '/requests',
        });
      }
      if (requests.length > maxRequests) {
        throw new PlaygroundError(
          413,
          'too_many_entries',
          `${requests.length} requests in one call; at most ${maxRequests}`,
          { pointer: '/requests' },
        );
      }
      const { compiled, engine } = await engineFor(text, name);
      // Priced before deciding, as serve and the proxy price theirs: the wasm engine holds the event loop
      // for the whole batch, and a batch of long fields on many rules could hold it for minutes.
      const short = compiled.profile.requestCost;
      let work = 0;
      for (const request of requests as unknown[]) work += workOn(compiled.profile, request);
      if (work > short && work > maxWork) {
        throw new PlaygroundError(
          413,
          'work_too_large',
          `${requests.length > 1 ? `${requests.length} requests need` : 'the request needs'} about ${work} rule checks on this policy; the limit is ${maxWork}`,
          { pointer: '/requests' },
        );
      }
      return { revision: compiled.revision, decisions: await engine.decideBatch(requests) };
    }
    throw new PlaygroundError(404, 'not_found', `no endpoint at "${path}"`);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      checkCaller(req, port);
      if (path.startsWith('/api/')) return sendJson(res, 200, await api(req, path));
      allow(req, 'GET', 'HEAD');
      await serveFile(res, staticDir, path, req.method === 'HEAD');
    } catch (e) {
      if (e instanceof PlaygroundError) {
        return sendJson(res, e.status, { code: e.code, message: e.message, ...e.extra });
      }
      if (e instanceof McpPolicyError) {
        // opa missing or failing: the page keeps working without the wasm decision.
        const status = e.code === 'opa_not_found' || e.code === 'opa_version_mismatch' ? 503 : 500;
        return sendJson(res, status, { code: e.code, message: e.message });
      }
      // Never a stack trace: the message alone, under a code the page can show.
      return sendJson(res, 500, { code: 'opa_failed', message: describeThrown(e) });
    }
  };

  const server: Server = createServer((req, res) => {
    void handle(req, res);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = compileTimeoutMs + 30_000;
  const bound = await listenTcp(server, options.host, options.port);
  port = bound.port;
  const hostText = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = new URL(`http://${hostText}:${port}/`);
  let closing: Promise<void> | undefined;
  return {
    url,
    close: () => {
      closing ??= new Promise<void>((done) => {
        server.close(() => done());
        server.closeIdleConnections();
        // Connections still busy after a grace period are cut, so close() always ends.
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      }).then(async () => {
        const all = [...engines.values()];
        engines.clear();
        await Promise.all(all.map((e) => e.then(({ engine }) => engine.close()).catch(() => undefined)));
      });
      return closing;
    },
  };
}

/**
 * Refuses a request whose `Host` is not this loopback server (a rebound DNS
 * name) or whose `Origin` is another site (a page posting across origins).
 */
function checkCaller(req: IncomingMessage, port: number): void {
  const host = req.headers.host ?? '';
  let hostUrl: URL | undefined;
  try {
    hostUrl = new URL(`http://${host}`);
  } catch {
    hostUrl = undefined;
  }
  const hostPort = hostUrl ? Number(hostUrl.port || 80) : NaN;
  if (!hostUrl || !isLoopbackHost(hostUrl.hostname) || hostPort !== port) {
    throw new PlaygroundError(403, 'forbidden_host', `host "${host}" is not this loopback server`);
  }
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let originUrl: URL | undefined;
  try {
    originUrl = new URL(origin);
  } catch {
    originUrl = undefined;
  }
  const same =
    originUrl !== undefined &&
    originUrl.protocol === 'http:' &&
    isLoopbackHost(originUrl.hostname) &&
    Number(originUrl.port || 80) === port;
  if (!same) throw new PlaygroundError(403, 'forbidden_origin', `origin "${origin}" is not this server's page`);
}

function allow(req: IncomingMessage, ...methods: string[]): void {
  if (!methods.includes(req.method ?? '')) {
    throw new PlaygroundError(
      405,
      'method_not_allowed',
      `${req.method ?? ''} is not allowed here; use ${methods.join(' or ')}`,
    );
  }
}

/** The body as JSON: `application/json` only (so a cross-site form cannot send it without a preflight), within the limit. */
async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new PlaygroundError(415, 'unsupported_media_type', `content-type must be application/json, not "${type}"`);
  }
  const tooLarge = (): PlaygroundError =>
    new PlaygroundError(413, 'too_large', `the request body is larger than ${limit} bytes`);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.destroy();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new PlaygroundError(400, 'invalid_json', `the request body is not JSON: ${lowerFirst(describeThrown(e))}`);
  }
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** `{"text": string, "name"?: string}` from a body; `name` is the file name compile would be given. */
function policyText(body: unknown): { text: string; name: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new PlaygroundError(400, 'invalid_type', 'the request body must be a JSON object', { pointer: '' });
  }
  const { text, name } = body as { text?: unknown; name?: unknown };
  if (typeof text !== 'string') {
    throw new PlaygroundError(400, 'invalid_type', 'text must be a string (the policy text)', { pointer: '/text' });
  }
  if (name !== undefined && typeof name !== 'string') {
    throw new PlaygroundError(400, 'invalid_type', 'name must be a string (the policy file name)', {
      pointer: '/name',
    });
  }
  return { text, name: name ?? 'policy.json' };
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((done, fail) => {
    const timer = setTimeout(
      () => fail(new PlaygroundError(504, 'opa_timeout', `compiling took longer than ${ms} ms`)),
      ms,
    );
    work.then(
      (v) => {
        clearTimeout(timer);
        done(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        fail(e instanceof Error ? e : new Error(describeThrown(e)));
      },
    );
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mcp-policy playground: not built</title></head>
<body><h1>The playground app is not built</h1>
<p>Run <code>npm run build:playground</code> in the mcp-policy folder, then reload this page
(<code>playground_not_built</code>). The API under <code>/api/</code> works meanwhile.</p></body></html>
`;

/** A file of the built app; `/` is index.html. Paths outside the folder cannot be named. */
async function serveFile(res: ServerResponse, dir: string, path: string, head: boolean): Promise<void> {
  const built = await stat(join(dir, 'index.html')).then(
    (s) => s.isFile(),
    () => false,
  );
  if (!built) {
    res.writeHead(503, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'x-error-code': 'playground_not_built',
    });
    res.end(head ? undefined : NOT_BUILT);
    return;
  }
  let relative: string;
  try {
    relative = decodeURIComponent(path === '/' ? '/index.html' : path);
  } catch {
    throw new PlaygroundError(404, 'not_found', `no file at "${path}"`);
  }
  const file = normalize(join(dir, relative));
  if (!file.startsWith(dir + sep) || relative.includes('\0')) {
    throw new PlaygroundError(404, 'not_found', `no file at "${path}"`);
  }
  const bytes = await readFile(file).catch(() => undefined);
  if (bytes === undefined) throw new PlaygroundError(404, 'not_found', `no file at "${path}"`);
  res.writeHead(200, {
    'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'content-length': bytes.length,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    // The app is never framed, so a page cannot overlay it to steer clicks.
    'content-security-policy': "frame-ancestors 'none'",
    'referrer-policy': 'no-referrer',
  });
  res.end(head ? undefined : bytes);
}
