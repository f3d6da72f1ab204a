/**
 * Bearer and JWT authentication (src/host/auth.ts) with real signed tokens:
 * keys from jose, a JWKS file, a PEM public key and a JWKS served over
 * loopback HTTP.
 */
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpPolicyError } from '../src/core/errors.js';
import {
  type AuthOptions,
  type AuthResult,
  type Authenticator,
  createAuthenticator,
  protectedResourceMetadataUrl,
} from '../src/host/auth.js';

const ISSUER = 'https://issuer.example.com';
const RESOURCE = 'https://mcp.example.com/mcp';
const METADATA = 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp';
const SERVICE_TOKEN = 'svc-0123456789abcdefghijklmnopqrstuvwxyz';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
let rsa: KeyPair;
let ec: KeyPair;
let other: KeyPair;
let jwksFile: string;
let jwksServer: Server;
let jwksUrl: string;

beforeAll(async () => {
  rsa = await generateKeyPair('RS256', { extractable: true });
  ec = await generateKeyPair('ES256', { extractable: true });
  other = await generateKeyPair('RS256', { extractable: true });
  const jwks = {
    keys: [
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(ec.publicKey)), kid: 'ec', alg: 'ES256', use: 'sig' },
    ],
  };
  jwksFile = join(mkdtempSync(join(tmpdir(), 'mcp-policy-auth-')), 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify(jwks));
  jwksServer = createServer((req, res) => {
    if (req.url !== '/jwks.json') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
  });
  jwksServer.listen(0, '127.0.0.1');
  await once(jwksServer, 'listening');
  jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
});

afterAll(async () => {
  if (jwksServer.listening) {
    jwksServer.close();
    await once(jwksServer, 'close');
  }
});

const now = () => Math.floor(Date.now() / 1000);

/** A token signed as the issuer would sign it, with `claims` overriding the defaults. */
function sign(
  claims: JWTPayload = {},
  {
    key = rsa.privateKey,
    alg = 'RS256',
    kid = 'rsa',
  }: { key?: KeyPair['privateKey']; alg?: string; kid?: string } = {},
): Promise<string> {
  const payload: JWTPayload = {
    iss: ISSUER,
    aud: RESOURCE,
    sub: 'user-1',
    iat: now(),
    exp: now() + 600,
    scope: 'tools:call tools:list',
    groups: ['dev', 'ops'],
    email: 'a@example.com',
    ...claims,
  };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  return new SignJWT(payload).setProtectedHeader({ alg, kid, typ: 'at+jwt' }).sign(key);
}

function options(jwt: Partial<NonNullable<AuthOptions['jwt']>> = {}, rest: Partial<AuthOptions> = {}): AuthOptions {
  return {
    resource: RESOURCE,
    jwt: { issuer: ISSUER, algorithms: ['RS256', 'ES256'], jwksFile, groupsClaim: 'groups', claims: ['email'], ...jwt },
    ...rest,
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function refused(result: AuthResult) {
  expect(result.ok).toBe(false);
  if (result.ok) throw new Error('authenticated');
  return result.failure;
}

/** The failure of a token, checked to be a 401 invalid_token whose message and headers never show the token. */
async function invalidToken(auth: Authenticator, token: string) {
  const failure = refused(await auth.authenticate(bearer(token)));
  expect(failure).toMatchObject({ code: 'invalid_token', status: 401 });
  expect(failure.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token", error_description="[^"]*"/);
  expect(failure.headers['www-authenticate']).toContain(`resource_metadata="${METADATA}"`);
  expect(JSON.stringify(failure)).not.toContain(token.split('.')[1] || token);
  return failure;
}

describe('jwt access tokens', () => {
  it('authenticate a valid token from a jwks file into a principal with the configured claims only', async () => {
    const auth = await createAuthenticator(options());
    const result = await auth.authenticate(bearer(await sign({ secret: 'not copied' })));
    expect(result).toMatchObject({
      ok: true,
      principal: {
        method: 'jwt',
        subject: 'user-1',
        issuer: ISSUER,
        scopes: ['tools:call', 'tools:list'],
        groups: ['dev', 'ops'],
        claims: { email: 'a@example.com' },
      },
    });
    if (result.ok) expect(Object.keys(result.principal.claims)).toEqual(['email']);
  });

  it('accept every key of the set and either scope claim spelling', async () => {
    const auth = await createAuthenticator(options());
    const token = await sign({ scope: undefined, scp: ['a', 'b'] }, { key: ec.privateKey, alg: 'ES256', kid: 'ec' });
    expect(await auth.authenticate(bearer(token))).toMatchObject({ ok: true, principal: { scopes: ['a', 'b'] } });
  });

  it('verify against a pem public key', async () => {
    const auth = await createAuthenticator(
      options({ jwksFile: undefined, publicKey: await exportSPKI(rsa.publicKey) }),
    );
    expect((await auth.authenticate(bearer(await sign()))).ok).toBe(true);
    await invalidToken(auth, await sign({}, { key: other.privateKey }));
  });

  it('verify against a remote jwks served over loopback http, and fail unavailable (503) when it cannot be fetched', async () => {
    const auth = await createAuthenticator(options({ jwksFile: undefined, jwksUrl }));
    expect((await auth.authenticate(bearer(await sign()))).ok).toBe(true);
    const unreachable = await createAuthenticator(
      options({ jwksFile: undefined, jwksUrl: jwksUrl.replace('/jwks.json', '/missing.json') }),
    );
    const failure = refused(await unreachable.authenticate(bearer(await sign())));
    expect(failure).toMatchObject({ code: 'auth_unavailable', status: 503, headers: {} });
  });

  it('refuse an expired token, and accept one within the clock tolerance', async () => {
    const auth = await createAuthenticator(options({ clockToleranceSeconds: 60 }));
    const failure = await invalidToken(auth, await sign({ exp: now() - 120 }));
    expect(failure.message).toBe('the token has expired');
    expect((await auth.authenticate(bearer(await sign({ exp: now() - 10 })))).ok).toBe(true);
  });

  it('refuse a token without exp, and one not yet valid', async () => {
    const auth = await createAuthenticator(options());
    const noExp = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: 'rsa' })
      .setIssuer(ISSUER)
      .setAudience(RESOURCE)
      .setSubject('user-1')
      .sign(rsa.privateKey);
    await invalidToken(auth, noExp);
    await invalidToken(auth, await sign({ nbf: now() + 3600 }));
  });

  it('refuse the wrong issuer and the wrong audience', async () => {
    const auth = await createAuthenticator(options());
    expect((await invalidToken(auth, await sign({ iss: 'https://evil.example.com' }))).message).toContain('"iss"');
    expect((await invalidToken(auth, await sign({ aud: 'https://other.example.com/mcp' }))).message).toContain('"aud"');
  });

  it('refuse an algorithm outside the allow-list, even with a key of the set', async () => {
    const auth = await createAuthenticator(options({ algorithms: ['RS256'] }));
    const failure = await invalidToken(auth, await sign({}, { key: ec.privateKey, alg: 'ES256', kid: 'ec' }));
    expect(failure.message).toContain('algorithm');
  });

  it('refuse a symmetric token signed with the public key as an hmac secret', async () => {
    const auth = await createAuthenticator(
      options({ jwksFile: undefined, publicKey: await exportSPKI(rsa.publicKey) }),
    );
    const secret = new TextEncoder().encode(await exportSPKI(rsa.publicKey));
    await invalidToken(auth, await sign({}, { key: secret as never, alg: 'HS256' }));
  });

  it('refuse alg none', async () => {
    const auth = await createAuthenticator(options());
    const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const payload = { iss: ISSUER, aud: RESOURCE, sub: 'user-1', exp: now() + 600, scope: 'tools:call' };
    await invalidToken(auth, `${part({ alg: 'none', typ: 'JWT' })}.${part(payload)}.`);
    await invalidToken(auth, `${part({ alg: 'none', kid: 'rsa' })}.${part(payload)}.c2ln`);
  });

  it('refuse a tampered payload and a tampered signature', async () => {
    const auth = await createAuthenticator(options());
    const [header, payload, signature] = (await sign()).split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as JWTPayload;
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'admin' })).toString('base64url');
    expect((await invalidToken(auth, `${header}.${forged}.${signature}`)).message).toContain('signature');
    const flipped = `${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`;
    await invalidToken(auth, `${header}.${payload}.${flipped}`);
  });

  it('refuse a token whose key id the set does not have', async () => {
    const auth = await createAuthenticator(options());
    await invalidToken(auth, await sign({}, { key: other.privateKey, kid: 'unknown' }));
  });

  it('refuse an oversized token before verifying it, and a huge header', async () => {
    const auth = await createAuthenticator(options({}, { maxTokenLength: 2048 }));
    const big = await sign({ padding: 'x'.repeat(4000) });
    expect((await invalidToken(auth, big)).message).toBe('the token is longer than 2048 characters');
    await invalidToken(auth, 'a'.repeat(1024 * 1024));
  });

  it('answer 403 insufficient_scope with the scopes needed', async () => {
    const auth = await createAuthenticator(options({}, { requiredScopes: ['tools:call'] }));
    expect((await auth.authenticate(bearer(await sign()))).ok).toBe(true);
    const failure = refused(await auth.authenticate(bearer(await sign()), { scopes: ['admin'] }));
    expect(failure).toMatchObject({
      code: 'insufficient_scope',
      status: 403,
      message: 'the token lacks the scope "admin"',
    });
    expect(failure.headers['www-authenticate']).toBe(
      `Bearer error="insufficient_scope", error_description="the token lacks the scope 'admin'", scope="tools:call admin", resource_metadata="${METADATA}"`,
    );
  });
});

describe('the authorization header', () => {
  it('missing: 401 with a challenge naming the metadata and the scopes, and no error', async () => {
    const auth = await createAuthenticator(options({}, { realm: 'mcp', requiredScopes: ['tools:call'] }));
    const failure = refused(await auth.authenticate({}));
    expect(failure).toMatchObject({ code: 'missing_token', status: 401 });
    expect(failure.headers['www-authenticate']).toBe(
      `Bearer realm="mcp", scope="tools:call", resource_metadata="${METADATA}"`,
    );
  });

  it('another scheme: 401 without an error code, and the credentials are not repeated', async () => {
    const auth = await createAuthenticator(options());
    const failure = refused(await auth.authenticate({ authorization: 'Basic dXNlcjpzZWNyZXQ=' }));
    expect(failure).toMatchObject({ code: 'missing_token', status: 401 });
    expect(failure.message).toBe('the authorization header uses the scheme "basic", not bearer');
    expect(failure.headers['www-authenticate']).toBe(`Bearer resource_metadata="${METADATA}"`);
  });

  it.each([
    ['a bare token', 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln'],
    ['no token', 'Bearer'],
    ['an empty token', 'Bearer    '],
    ['two tokens', 'Bearer abc def'],
    ['characters no token has', 'Bearer abc"def'],
    ['non-ascii', 'Bearer é'],
  ])('malformed (%s): 400 invalid_request', async (_, value) => {
    const auth = await createAuthenticator(options());
    const failure = refused(await auth.authenticate({ authorization: value }));
    expect(failure).toMatchObject({ code: 'invalid_auth_header', status: 400 });
    expect(failure.headers['www-authenticate']).toMatch(/^Bearer error="invalid_request", /);
    expect(failure.message).not.toContain('eyJ');
  });

  it('repeated: 400 invalid_request', async () => {
    const auth = await createAuthenticator(options());
    const token = await sign();
    const failure = refused(await auth.authenticate({ authorization: [`Bearer ${token}`, `Bearer ${token}`] }));
    expect(failure).toMatchObject({ code: 'invalid_auth_header', status: 400 });
  });

  it('is read from fetch Headers and any spelling of the name, with the scheme in any case', async () => {
    const auth = await createAuthenticator(options());
    const token = await sign();
    expect((await auth.authenticate(new Headers({ Authorization: `bearer ${token}` }))).ok).toBe(true);
    expect((await auth.authenticate({ Authorization: `BEARER  ${token} ` })).ok).toBe(true);
  });
});

describe('static tokens', () => {
  it('authenticate a configured token as its service, and refuse others of the same length', async () => {
    const auth = await createAuthenticator({
      resource: RESOURCE,
      staticTokens: [{ token: SERVICE_TOKEN, subject: 'gateway', scopes: ['tools:call'] }],
    });
    expect(await auth.authenticate(bearer(SERVICE_TOKEN))).toMatchObject({
      ok: true,
      principal: { method: 'static', subject: 'gateway', issuer: 'static', scopes: ['tools:call'] },
    });
    const wrong = `${SERVICE_TOKEN.slice(0, -1)}Z`;
    const failure = refused(await auth.authenticate(bearer(wrong)));
    expect(failure).toMatchObject({ code: 'invalid_token', status: 401 });
    expect(JSON.stringify(failure)).not.toContain(wrong);
  });

  it('live beside jwt verification', async () => {
    const auth = await createAuthenticator(
      options({}, { staticTokens: [{ token: SERVICE_TOKEN, subject: 'gateway' }] }),
    );
    expect(await auth.authenticate(bearer(SERVICE_TOKEN))).toMatchObject({ ok: true, principal: { method: 'static' } });
    expect(await auth.authenticate(bearer(await sign()))).toMatchObject({ ok: true, principal: { method: 'jwt' } });
  });
});

describe('configuration', () => {
  it.each<[string, Partial<AuthOptions>]>([
    ['alg none', { jwt: { issuer: ISSUER, algorithms: ['none'], jwksFile: '/x' } }],
    ['an hmac algorithm', { jwt: { issuer: ISSUER, algorithms: ['HS256'], jwksFile: '/x' } }],
    ['no algorithm', { jwt: { issuer: ISSUER, algorithms: [], jwksFile: '/x' } }],
    ['two key sources', { jwt: { issuer: ISSUER, algorithms: ['RS256'], jwksFile: '/x', jwksUrl: 'https://a.b/' } }],
    ['a plain http jwks url', { jwt: { issuer: ISSUER, algorithms: ['RS256'], jwksUrl: 'http://idp.example.com/j' } }],
    ['a missing jwks file', { jwt: { issuer: ISSUER, algorithms: ['RS256'], jwksFile: '/nonexistent/jwks.json' } }],
    ['a private key as public key', { jwt: { issuer: ISSUER, algorithms: ['RS256'], publicKey: 'not a key' } }],
    [
      'a clock tolerance of an hour',
      { jwt: { issuer: ISSUER, algorithms: ['RS256'], jwksFile: '/x', clockToleranceSeconds: 3600 } },
    ],
    ['a short static token', { staticTokens: [{ token: 'short', subject: 's' }] }],
    ['nothing to verify with', {}],
    [
      'a resource with a fragment',
      { resource: `${RESOURCE}#x`, staticTokens: [{ token: SERVICE_TOKEN, subject: 's' }] },
    ],
    ['a realm with a quote', { realm: 'a"b', staticTokens: [{ token: SERVICE_TOKEN, subject: 's' }] }],
  ])('refuses %s (invalid_auth_config)', async (_, change) => {
    const error = await createAuthenticator({ resource: RESOURCE, ...change }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(McpPolicyError);
    expect((error as McpPolicyError).code).toBe('invalid_auth_config');
    expect((error as McpPolicyError).message).toMatch(/^[^A-Z]/);
  });

  it('derives the rfc 9728 metadata url and document', async () => {
    expect(protectedResourceMetadataUrl(RESOURCE)).toBe(METADATA);
    expect(protectedResourceMetadataUrl('https://mcp.example.com')).toBe(
      'https://mcp.example.com/.well-known/oauth-protected-resource',
    );
    const auth = await createAuthenticator(options({}, { requiredScopes: ['tools:call'] }));
    expect(auth.metadata()).toEqual({
      resource: RESOURCE,
      authorization_servers: [ISSUER],
      bearer_methods_supported: ['header'],
      scopes_supported: ['tools:call'],
    });
  });
});
