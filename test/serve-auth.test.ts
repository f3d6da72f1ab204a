/**
 * Authentication of `serve` over TCP: refusal to listen off loopback
 * without it, bearer tokens from a file (rotated under a running service),
 * JWTs signed with real keys (jose), open probes, metrics by reason, and
 * the owner-only socket answering without a token.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { McpPolicyError } from '../src/core/errors.js';
import { createAuthenticator } from '../src/host/auth.js';
import { isLoopbackHost } from '../src/server/authentication.js';
import { type ServeHandle, type ServeOptions, startServe } from '../src/server/service.js';
import { cli } from './helpers.js';
import { call, tempDir } from './serve-helpers.js';

const POLICY =
  '{"version":1,"default":"allow","rules":[{"action":"invoke","tools":["delete_*"],"deny":true,"reason":"no deletes"}]}';
const REQUEST = { server: 'fs', action: 'invoke', tool: 'delete_file' };
const TOKEN_A = 'token-a-0123456789abcdefghijklmnopqrstuvwxyz';
const TOKEN_B = 'token-b-0123456789abcdefghijklmnopqrstuvwxyz';
const ISSUER = 'https://issuer.example.com';
const AUDIENCE = 'mcp-policy-pdp';

let dir: string;
let policyFile: string;
let jwksFile: string;
let keys: Awaited<ReturnType<typeof generateKeyPair>>;

beforeAll(async () => {
  dir = tempDir();
  policyFile = join(dir, 'policy.json');
  writeFileSync(policyFile, POLICY);
  keys = await generateKeyPair('ES256', { extractable: true });
  jwksFile = join(dir, 'jwks.json');
  writeFileSync(
    jwksFile,
    JSON.stringify({ keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256' }] }),
  );
});

const handles: ServeHandle[] = [];
afterEach(async () => {
  for (const h of handles.splice(0)) await h.close();
});

/** A service deciding POLICY natively (no opa needed), with what `notify` said kept in `notes`. */
async function serve(options: Partial<ServeOptions>, notes: string[] = []): Promise<ServeHandle> {
  const h = await startServe({
    sources: { file: policyFile, engine: 'native' },
    tcp: { host: '127.0.0.1', port: 0 },
    notify: (line) => notes.push(line),
    ...options,
  });
  handles.push(h);
  return h;
}

/** Replaces a file atomically, as a secret rotation would. */
function replace(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

function tokenFile(...lines: string[]): string {
  const file = join(tempDir(), 'tokens');
  writeFileSync(file, lines.join('\n'), { mode: 0o600 });
  return file;
}

async function ask(
  h: ServeHandle,
  path: string,
  token?: string,
  init: { method?: string; body?: unknown; authorization?: string } = {},
): Promise<{ status: number; body: unknown; challenge: string | null; connection: string | null }> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (init.authorization !== undefined) headers.authorization = init.authorization;
  const method = init.method ?? (init.body === undefined && path !== '/mcp/policy/evaluate' ? 'GET' : 'POST');
  if (method === 'POST') headers['content-type'] = 'application/json';
  const res = await fetch(`http://127.0.0.1:${h.port}${path}`, {
    method,
    headers,
    ...(method === 'POST' && { body: JSON.stringify(init.body ?? REQUEST) }),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Prometheus text.
  }
  return {
    status: res.status,
    body,
    challenge: res.headers.get('www-authenticate'),
    connection: res.headers.get('connection'),
  };
}

async function metric(h: ServeHandle, pattern: RegExp): Promise<number> {
  return Number(pattern.exec(await h.metrics.registry.metrics())?.[1] ?? 0);
}

/** Polls a condition until it holds, within a deadline (the token file watch reports through a metric). */
async function until(check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const now = () => Math.floor(Date.now() / 1000);

function jwt(claims: JWTPayload = {}): Promise<string> {
  const payload: JWTPayload = { iss: ISSUER, aud: AUDIENCE, sub: 'gateway-1', iat: now(), exp: now() + 600, ...claims };
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(keys.privateKey);
}

const DENIED = { allowed: false, reason: 'no deletes' };

describe('off loopback', () => {
  it('refuses 0.0.0.0 without authentication before anything listens or loads', async () => {
    const socket = join(tempDir(), 's.sock');
    const error = await startServe({
      // A file that does not exist: the refusal comes before the policy is read.
      sources: { file: join(dir, 'missing.json'), engine: 'native' },
      socket,
      tcp: { host: '0.0.0.0', port: 0 },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(McpPolicyError);
    expect(error).toMatchObject({ code: 'auth_required' });
    expect((error as Error).message).toContain('"0.0.0.0:0"');
    expect((error as Error).message).toContain('--auth-token-file');
    expect((error as Error).message).toContain('--auth-issuer');
    // The socket listens before TCP: it was never created, so nothing listened.
    expect(existsSync(socket)).toBe(false);
  });

  it('refuses from the command line with exit 2 and a coded message that says how to fix it', async () => {
    const socket = join(tempDir(), 's.sock');
    const r = await cli(['serve', policyFile, '--engine', 'native', '--socket', socket, '--addr', '0.0.0.0:0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing to listen on "0\.0\.0\.0:0" without authentication: give --auth-token-file/);
    expect(r.stderr).toContain('auth_required');
    expect(r.stderr).not.toContain('listening on');
    expect(existsSync(socket)).toBe(false);
    const v6 = await cli(['serve', policyFile, '--engine', 'native', '--addr', '[::]:0']);
    expect(v6.code).toBe(2);
    expect(v6.stderr).toContain('"[::]:0"');
  });

  it('asks for the JWT flags together', async () => {
    const r = await cli(['serve', policyFile, '--addr', '0.0.0.0:0', '--auth-issuer', ISSUER]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('jwt verification also needs --auth-audience and --auth-jwks');
  });

  it('tells loopback addresses from the others', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '::ffff:10.0.0.1', 'fe80::1%eth0', 'example.com', '128.0.0.1']) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });
});

describe('bearer tokens from a file', () => {
  it('answers only with a token, leaves probes open, counts refusals by reason, and the socket needs none', async () => {
    const socket = join(tempDir(), 's.sock');
    const log = join(tempDir(), 'decisions.jsonl');
    const notes: string[] = [];
    const h = await serve(
      { socket, decisionLog: log, auth: { tokenFile: tokenFile('# gateways', TOKEN_A, '') } },
      notes,
    );

    const missing = await ask(h, '/mcp/policy/evaluate');
    expect(missing.status).toBe(401);
    expect(missing.body).toEqual({ code: 'missing_token', message: 'the request has no authorization header' });
    expect(missing.challenge).toBe('Bearer');
    expect(missing.connection).toBe('close');

    const wrong = await ask(h, '/mcp/policy/evaluate', TOKEN_B);
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ code: 'invalid_token' });
    expect(wrong.challenge).toMatch(/^Bearer error="invalid_token", error_description="[^"]+"$/);

    const malformed = await ask(h, '/v1/data/mcp_policy/decision', undefined, { authorization: 'Bearer a b' });
    expect(malformed.status).toBe(400);
    expect(malformed.body).toMatchObject({ code: 'invalid_auth_header' });

    // Every path but the probes is behind authentication, unknown ones too (no probing for routes).
    for (const path of ['/metrics', '/features', '/v1/data/mcp_policy/decisions', '/nowhere']) {
      expect((await ask(h, path)).status, path).toBe(401);
    }
    // AuthZEN's endpoints too: the whole TCP handler is wrapped, not route by route.
    expect((await ask(h, '/.well-known/authzen-configuration')).status).toBe(401);
    expect((await ask(h, '/access/v1/evaluation', undefined, { body: {} })).status).toBe(401);
    expect((await ask(h, '/.well-known/authzen-configuration', TOKEN_A)).status).toBe(200);
    expect((await ask(h, '/access/v1/evaluation', TOKEN_A, { body: {} })).status).toBe(400);
    expect((await ask(h, '/ping')).status).toBe(200);
    expect((await ask(h, '/health')).status).toBe(200);

    const allowed = await ask(h, '/mcp/policy/evaluate', TOKEN_A);
    expect(allowed).toMatchObject({ status: 200, body: DENIED });
    const opa = await ask(h, '/v1/data/mcp_policy/decision', TOKEN_A, { body: { input: REQUEST } });
    expect(opa).toMatchObject({ status: 200, body: { result: { allowed: false, rule: 0 } } });

    // The owner-only socket answers without a token.
    const viaSocket = await call({ socket }, 'POST', '/mcp/policy/evaluate', REQUEST);
    expect(viaSocket.status).toBe(200);
    expect(viaSocket.json()).toEqual(DENIED);

    const metrics = await ask(h, '/metrics', TOKEN_A);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/mcp_policy_auth_failures_total\{reason="missing_token"\} 7\n/);
    expect(metrics.body).toMatch(/mcp_policy_auth_failures_total\{reason="invalid_token"\} 1\n/);
    expect(metrics.body).toMatch(/mcp_policy_auth_failures_total\{reason="invalid_auth_header"\} 1\n/);

    await h.close();
    const logged = readFileSync(log, 'utf8');
    expect(logged.split('\n').filter((l) => l !== '')).toHaveLength(3);
    for (const text of [logged, notes.join('\n')]) {
      expect(text).not.toContain(TOKEN_A);
      expect(text).not.toContain(TOKEN_B);
    }
  });

  it('follows a rotated token file: the old token is refused after the change, the new one accepted', async () => {
    const file = tokenFile(TOKEN_A);
    const notes: string[] = [];
    const h = await serve({ auth: { tokenFile: file } }, notes);
    expect((await ask(h, '/mcp/policy/evaluate', TOKEN_A)).status).toBe(200);
    expect((await ask(h, '/mcp/policy/evaluate', TOKEN_B)).status).toBe(401);

    const reloads = (outcome: string) =>
      metric(h, new RegExp(`mcp_policy_auth_token_file_reloads_total\\{outcome="${outcome}"\\} (\\d+)`));
    replace(file, `${TOKEN_B}\n`);
    await until(async () => (await reloads('loaded')) >= 1, 'the rotated token file to be read');
    expect((await ask(h, '/mcp/policy/evaluate', TOKEN_A)).status).toBe(401);
    expect((await ask(h, '/mcp/policy/evaluate', TOKEN_B)).status).toBe(200);

    // A botched edit leaves no token of the file accepted, not the old ones, until it is fixed.
    replace(file, `${TOKEN_B}\nshort\n`);
    await until(async () => (await reloads('failed')) >= 1, 'the broken token file to be read');
    expect((await ask(h, '/mcp/policy/evaluate', TOKEN_B)).status).toBe(401);
    expect(notes.join('\n')).toContain('line 2: a token must be at least 32 characters');
    const before = await reloads('loaded');
    replace(file, `${TOKEN_A}\n${TOKEN_B}\n`);
    await until(async () => (await reloads('loaded')) > before, 'the fixed token file to be read');
    expect((await ask(h, '/mcp/policy/evaluate', TOKEN_A)).status).toBe(200);
    expect((await ask(h, '/mcp/policy/evaluate', TOKEN_B)).status).toBe(200);
    expect(notes.join('\n')).not.toContain(TOKEN_A.slice(8));
  });

  it('refuses a token file with a bad line at start-up, naming the line and never the token', async () => {
    const secret = 'tooshort-but-secret';
    const error = await serve({ auth: { tokenFile: tokenFile(TOKEN_A, secret) } }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'invalid_auth_config' });
    expect((error as Error).message).toMatch(/the token file ".*tokens" line 2: a token must be at least 32/);
    expect((error as Error).message).not.toContain(secret);
    const empty = await serve({ auth: { tokenFile: tokenFile('# none yet') } }).catch((e: unknown) => e);
    expect(empty).toMatchObject({ code: 'invalid_auth_config', message: expect.stringContaining('holds no token') });
  });
});

describe('JWT access tokens', () => {
  it('accepts a valid JWT and refuses an expired one, a foreign audience and a bad signature', async () => {
    const h = await serve({
      auth: { jwt: { issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'], jwksFile } },
    });
    expect(await ask(h, '/mcp/policy/evaluate', await jwt())).toMatchObject({ status: 200, body: DENIED });

    const expired = await ask(h, '/mcp/policy/evaluate', await jwt({ iat: now() - 7200, exp: now() - 3600 }));
    expect(expired).toMatchObject({ status: 401, body: { code: 'invalid_token', message: 'the token has expired' } });
    expect(expired.challenge).toContain('error="invalid_token"');

    const foreign = await ask(h, '/mcp/policy/evaluate', await jwt({ aud: 'someone-else' }));
    expect(foreign).toMatchObject({ status: 401, body: { code: 'invalid_token' } });

    const good = await jwt();
    const tampered = `${good.slice(0, -4)}${good.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    expect((await ask(h, '/mcp/policy/evaluate', tampered)).status).toBe(401);
    expect(await metric(h, /mcp_policy_auth_failures_total\{reason="invalid_token"\} (\d+)/)).toBe(3);
  });

  it('needs an audience, since the service names no resource of its own', async () => {
    const jwtOptions = { issuer: ISSUER, algorithms: ['ES256'], jwksFile };
    const viaServe = await serve({ auth: { jwt: jwtOptions } }).catch((e: unknown) => e);
    expect(viaServe).toMatchObject({ code: 'invalid_auth_config', message: expect.stringContaining('audience') });
    const direct = await createAuthenticator({ jwt: jwtOptions }).catch((e: unknown) => e);
    expect(direct).toMatchObject({
      code: 'invalid_auth_config',
      message: 'jwt needs an audience when no resource is given',
    });
  });

  it('takes a token file and JWTs together', async () => {
    const h = await serve({
      auth: {
        tokenFile: tokenFile(TOKEN_A),
        jwt: { issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'], jwksFile },
      },
    });
    expect((await ask(h, '/mcp/policy/evaluate', TOKEN_A)).status).toBe(200);
    expect((await ask(h, '/mcp/policy/evaluate', await jwt())).status).toBe(200);
    expect((await ask(h, '/mcp/policy/evaluate', TOKEN_B)).status).toBe(401);
  });
});
