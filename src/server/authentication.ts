/**
 * Authentication of the service's TCP listeners: bearer tokens from a file
 * (re-read when it changes) and JWT access tokens, both verified by the host
 * layer's one authenticator. A TCP address off loopback is refused without
 * it; the unix socket never asks, since only its owner can connect.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { platform } from 'node:os';
import { McpPolicyError } from '../core/errors.js';
import {
  type AuthFailureCode,
  type AuthResult,
  type Authenticator,
  createAuthenticator,
  type JwtOptions,
  type StaticToken,
  staticTokenProblem,
} from '../host/auth.js';
import { isAuthzenPath, requestId } from './authzen.js';
import { type FileWatch, watchFile } from './bundle-source.js';

/** How the TCP listeners authenticate requests. */
export interface ServeAuthOptions {
  /**
   * A file of bearer tokens, one a line (blank lines and lines starting with
   * `#` are skipped), each at least 32 characters; re-read when it changes.
   */
  readonly tokenFile?: string;
  /** JWT access tokens: the issuer, the audience (required) and one key source. */
  readonly jwt?: JwtOptions;
}

/**
 * Paths answered without a token: liveness and readiness probes (load
 * balancers, orchestrators) carry no credentials, and these reveal only
 * whether a bundle is active.
 */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/ping', '/health']);

/** Largest token file read, in bytes. */
const MAX_TOKEN_FILE_BYTES = 1024 * 1024;

/**
 * True for an address only this machine can reach: `localhost`, 127.0.0.0/8,
 * `::1` and IPv4-mapped loopback. Any other name may resolve off the machine,
 * so it counts as off loopback.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) !== 6) return false;
  // The URL parser writes every spelling of an IPv6 address one way (::ffff:127.0.0.1 as ::ffff:7f00:1).
  try {
    const canonical = new URL(`http://[${h}]/`).hostname.slice(1, -1);
    return canonical === '::1' || /^::ffff:7f[0-9a-f]{2}:/.test(canonical);
  } catch {
    // A zone index (fe80::1%eth0) is a link-local address, never loopback.
    return false;
  }
  return false;
}

/**
 * Refuses a TCP address off loopback without authentication, before
 * anything listens: a shared decision point open to the network would
 * answer, and log, anyone's requests. Throws `auth_required`.
 */
export function requireAuthOffLoopback(
  tcp: { readonly host: string; readonly port: number } | undefined,
  auth: ServeAuthOptions | undefined,
): void {
  if (tcp === undefined || isLoopbackHost(tcp.host)) return;
  if (auth?.tokenFile !== undefined || auth?.jwt !== undefined) return;
  const where = tcp.host.includes(':') ? `[${tcp.host}]:${tcp.port}` : `${tcp.host}:${tcp.port}`;
  throw new McpPolicyError(
    'auth_required',
    `refusing to listen on ${JSON.stringify(where)} without authentication: give --auth-token-file FILE, ` +
      'or --auth-issuer URL --auth-audience AUD --auth-jwks URL|FILE, or listen on 127.0.0.1 or a --socket',
  );
}

function tokenFileError(path: string, message: string): McpPolicyError {
  return new McpPolicyError('invalid_auth_config', `the token file ${JSON.stringify(path)} ${message}`);
}

/** The token file's bytes, read only when it is a regular file (a FIFO would block the read forever). */
async function readTokenBytes(path: string): Promise<{ text: string; othersCanRead: boolean }> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw tokenFileError(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw tokenFileError(path, 'is not a regular file');
    if (info.size > MAX_TOKEN_FILE_BYTES) throw tokenFileError(path, `is over ${MAX_TOKEN_FILE_BYTES} bytes`);
    const bytes = await handle.readFile();
    if (bytes.length > MAX_TOKEN_FILE_BYTES) throw tokenFileError(path, `is over ${MAX_TOKEN_FILE_BYTES} bytes`);
    return { text: bytes.toString('utf8'), othersCanRead: platform() !== 'win32' && (info.mode & 0o077) !== 0 };
  } catch (e) {
    if (e instanceof McpPolicyError) throw e;
    throw tokenFileError(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  } finally {
    await handle.close();
  }
}

/**
 * The static tokens of a token file, each named by its line (the principal's
 * subject). Throws `invalid_auth_config` naming the line of a bad token,
 * never the token.
 */
export async function readTokenFile(path: string): Promise<{ tokens: StaticToken[]; othersCanRead: boolean }> {
  const { text, othersCanRead } = await readTokenBytes(path);
  const tokens: StaticToken[] = [];
  const lines = new Map<string, number>();
  text.split('\n').forEach((raw, k) => {
    const token = raw.trim();
    if (token === '' || token.startsWith('#')) return;
    const line = k + 1;
    const problem = staticTokenProblem(token);
    if (problem !== undefined) throw tokenFileError(path, `line ${line}: a token ${problem}`);
    const earlier = lines.get(token);
    if (earlier !== undefined) throw tokenFileError(path, `line ${line} repeats the token of line ${earlier}`);
    lines.set(token, line);
    tokens.push({ token, subject: `token-file:${line}` });
  });
  return { tokens, othersCanRead };
}

/** What the service hears from its authentication. */
export interface ServeAuthHooks {
  /** Notes for the operator (a reloaded or broken token file); never hold a token. */
  readonly notify?: (line: string) => void;
  /** A token file was read again: `loaded`, or `failed` (then no token of the file is accepted). */
  readonly onReload?: (outcome: 'loaded' | 'failed') => void;
}

/** The authentication of a service: the current authenticator, rebuilt when the token file changes. */
export class ServeAuthentication {
  private current: Authenticator;
  private reloading: Promise<void> = Promise.resolve();
  private watcher: FileWatch | undefined;

  private constructor(
    private readonly options: ServeAuthOptions,
    private readonly hooks: ServeAuthHooks,
    first: Authenticator,
  ) {
    this.current = first;
  }

  /**
   * Checks the options and reads the token file and keys once. Throws
   * `invalid_auth_config` (a bad token file, one without any token and no
   * JWT, bad JWT options).
   */
  static async open(options: ServeAuthOptions, hooks: ServeAuthHooks = {}): Promise<ServeAuthentication> {
    if (options.tokenFile === undefined && options.jwt === undefined) {
      throw new McpPolicyError('invalid_auth_config', 'authentication needs a token file or jwt verification');
    }
    if (options.jwt !== undefined && options.jwt.audience === undefined) {
      throw new McpPolicyError('invalid_auth_config', 'jwt verification needs an audience (--auth-audience)');
    }
    let tokens: StaticToken[] = [];
    if (options.tokenFile !== undefined) {
      const read = await readTokenFile(options.tokenFile);
      if (read.tokens.length === 0 && options.jwt === undefined) {
        throw tokenFileError(options.tokenFile, 'holds no token');
      }
      if (read.othersCanRead) {
        hooks.notify?.(`note: the token file ${JSON.stringify(options.tokenFile)} can be read by other users`);
      }
      tokens = read.tokens;
    }
    return new ServeAuthentication(options, hooks, await ServeAuthentication.build(options, tokens));
  }

  private static build(options: ServeAuthOptions, tokens: readonly StaticToken[]): Promise<Authenticator> {
    // A file emptied or broken at a reload must accept none of its old tokens. With no JWT either, the
    // authenticator still needs a token to exist: one nobody knows, so every request is refused in its
    // usual shape (missing_token, invalid_token, ...).
    const staticTokens =
      tokens.length > 0 || options.jwt !== undefined
        ? tokens
        : [{ token: randomBytes(48).toString('base64url'), subject: 'none' }];
    return createAuthenticator({
      ...(options.jwt !== undefined && { jwt: options.jwt }),
      staticTokens,
    });
  }

  /** Authenticates a request by its headers; never throws. */
  authenticate(headers: IncomingMessage['headers']): Promise<AuthResult> {
    return this.current.authenticate(headers);
  }

  /**
   * Reads the token file again and swaps the authenticator in one
   * assignment. A file that cannot be read or holds a bad line leaves no
   * token of the file accepted until it is fixed: a revoked token must not
   * outlive a botched edit.
   */
  reload(): Promise<void> {
    const file = this.options.tokenFile;
    if (file === undefined) return Promise.resolve();
    this.reloading = this.reloading.then(async () => {
      let tokens: StaticToken[] = [];
      let outcome: 'loaded' | 'failed' = 'loaded';
      try {
        tokens = (await readTokenFile(file)).tokens;
        this.hooks.notify?.(`auth: ${tokens.length} token${tokens.length === 1 ? '' : 's'} from ${file}`);
      } catch (e) {
        outcome = 'failed';
        this.hooks.notify?.(`auth: ${(e as Error).message}; no token of the file is accepted until it is fixed`);
      }
      try {
        this.current = await ServeAuthentication.build(this.options, tokens);
      } catch (e) {
        // Only the JWT key source can fail here (a JWKS file gone bad): refuse everything rather than keep old tokens.
        outcome = 'failed';
        this.current = await ServeAuthentication.build({}, []);
        this.hooks.notify?.(`auth: ${(e as Error).message}; every request is refused until it is fixed`);
      }
      this.hooks.onReload?.(outcome);
    });
    return this.reloading;
  }

  /** Re-reads the token file whenever it is written or replaced; `onProblem` hears of a lost watch. */
  watch(onProblem?: (problem: string | undefined) => void): void {
    const file = this.options.tokenFile;
    if (file === undefined || this.watcher !== undefined) return;
    this.watcher = watchFile(file, () => void this.reload(), { ...(onProblem && { onProblem }) });
  }

  /** Stops watching the token file. */
  stop(): void {
    this.watcher?.stop();
  }
}

/**
 * Wraps a request handler so every request but {@link OPEN_PATHS} needs a
 * valid token. A refusal answers the authenticator's status and
 * `WWW-Authenticate` challenge with a JSON `{code, message}` body (OPA's
 * error shape) and closes the connection, so an unread body is never parsed
 * as the next request. The token is never logged or passed on.
 */
export function requireAuthentication(
  auth: ServeAuthentication,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  onRefused: (code: AuthFailureCode) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (OPEN_PATHS.has(path)) return handler(req, res);
    // Extension point: the principal is not passed on, since requests have no field for it yet.
    auth
      .authenticate(req.headers)
      .then((result) => {
        if (result.ok) return handler(req, res);
        const { code, status, message, headers } = result.failure;
        onRefused(code);
        const body = JSON.stringify({ code, message });
        // AuthZEN asks every reply to carry the PEP's request identifier, refusals included.
        const id = isAuthzenPath(path) ? requestId(req) : undefined;
        res.writeHead(status, {
          ...headers,
          ...(id !== undefined && { 'X-Request-ID': id }),
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
          Connection: 'close',
        });
        res.end(body);
        req.resume();
      })
      // A reply that cannot be written (the client left) must not take the process down.
      .catch(() => res.destroy());
  };
}
