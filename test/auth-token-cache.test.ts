/**
 * The cache of verified JWTs in src/host/auth.ts, with real signed tokens and
 * a JWKS served over loopback HTTP that can rotate its keys: a token is
 * verified once and then answered from memory, but never past its expiry,
 * never after the key set it was verified with has been replaced, and never
 * for a different token. The clock is moved with vitest's fake Date (jose
 * and the JWKS cache read the same clock), so nothing waits for time to pass.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JSONWebKeySet, SignJWT } from 'jose';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Authenticator, createAuthenticator, VERIFIED_TOKEN_CACHE } from '../src/host/auth.js';

const ISSUER = 'https://issuer.example.com';
const RESOURCE = 'https://mcp.example.com/mcp';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
let first: KeyPair;
let second: KeyPair;

beforeAll(async () => {
  first = await generateKeyPair('ES256');
  second = await generateKeyPair('ES256');
});

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** A JWKS endpoint whose keys the test replaces; counts its fetches. */
async function jwksEndpoint(
  keys: JSONWebKeySet,
): Promise<{ url: string; set(k: JSONWebKeySet): void; fetches(): number }> {
  let current = keys;
  let fetches = 0;
  const server: Server = createServer((_req, res) => {
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(current));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`,
    set: (k) => void (current = k),
    fetches: () => fetches,
  };
}

async function jwk(pair: KeyPair, kid: string): Promise<Record<string, unknown>> {
  return { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256', use: 'sig' };
}

function sign(pair: KeyPair, kid: string, sub: string, expiresInSeconds: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ groups: ['eng'] })
    .setProtectedHeader({ alg: 'ES256', kid })
    .setIssuer(ISSUER)
    .setAudience(RESOURCE)
    .setSubject(sub)
    .setIssuedAt(now)
    .setExpirationTime(now + expiresInSeconds)
    .sign(pair.privateKey);
}

function authenticator(jwksUrl: string, clockToleranceSeconds = 0): Promise<Authenticator> {
  return createAuthenticator({
    resource: RESOURCE,
    jwt: { issuer: ISSUER, algorithms: ['ES256'], jwksUrl, groupsClaim: 'groups', clockToleranceSeconds },
  });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('verified token cache', () => {
  it('verifies a token once and answers its later requests from the cache, keyed by the exact token', async () => {
    const jwks = await jwksEndpoint({ keys: [await jwk(first, 'a')] });
    const auth = await authenticator(jwks.url);
    const alice = await sign(first, 'a', 'alice', 3600);
    const bob = await sign(first, 'a', 'bob', 3600);
    // The first request fetches the key set: what is verified while it is fetched is not kept.
    expect((await auth.authenticate(bearer(alice))).ok).toBe(true);
    expect(auth.tokenCache).toEqual({ entries: 0, hits: 0 });
    for (let k = 0; k < 3; k++) {
      const r = await auth.authenticate(bearer(alice));
      expect(r).toMatchObject({ ok: true, principal: { subject: 'alice', groups: ['eng'] } });
    }
    expect(auth.tokenCache).toEqual({ entries: 1, hits: 2 });
    expect(await auth.authenticate(bearer(bob))).toMatchObject({ ok: true, principal: { subject: 'bob' } });
    expect(auth.tokenCache).toEqual({ entries: 2, hits: 2 });
    // One character changed is another token: verified (and refused), never answered from alice's entry.
    const at = alice.length - 10;
    const forged = `${alice.slice(0, at)}${alice[at] === 'A' ? 'B' : 'A'}${alice.slice(at + 1)}`;
    expect(await auth.authenticate(bearer(forged))).toMatchObject({
      ok: false,
      failure: { code: 'invalid_token' },
    });
    expect(auth.tokenCache).toEqual({ entries: 2, hits: 2 });
    expect(jwks.fetches()).toBe(1);
  });

  it('a cached token still expires at its exp, with the clock tolerance', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const jwks = await jwksEndpoint({ keys: [await jwk(first, 'a')] });
    const auth = await authenticator(jwks.url, 30);
    const token = await sign(first, 'a', 'alice', 60);
    expect((await auth.authenticate(bearer(token))).ok).toBe(true);
    expect((await auth.authenticate(bearer(token))).ok).toBe(true);
    expect(auth.tokenCache).toEqual({ entries: 1, hits: 0 });
    vi.setSystemTime(Date.now() + 80_000);
    expect((await auth.authenticate(bearer(token))).ok).toBe(true);
    expect(auth.tokenCache.hits).toBe(1);
    // Past exp + 30 s: refused as verifying it would refuse it.
    vi.setSystemTime(Date.now() + 11_000);
    expect(await auth.authenticate(bearer(token))).toMatchObject({
      ok: false,
      failure: { code: 'invalid_token', message: 'the token has expired' },
    });
    expect(auth.tokenCache).toEqual({ entries: 0, hits: 1 });
  });

  it('a key rotated out of a remote JWKS stops its cached tokens once the key set is fetched again', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const jwks = await jwksEndpoint({ keys: [await jwk(first, 'a')] });
    const auth = await authenticator(jwks.url);
    const old = await sign(first, 'a', 'alice', 3 * 3600);
    for (let k = 0; k < 3; k++) expect((await auth.authenticate(bearer(old))).ok).toBe(true);
    expect(auth.tokenCache.hits).toBe(1);
    jwks.set({ keys: [await jwk(second, 'b')] });
    // A token of the new key, after the JWKS cooldown: the key set is fetched again, and the old key is gone.
    vi.setSystemTime(Date.now() + 31_000);
    const renewed = await sign(second, 'b', 'alice', 3600);
    expect((await auth.authenticate(bearer(renewed))).ok).toBe(true);
    expect(jwks.fetches()).toBe(2);
    expect(await auth.authenticate(bearer(old))).toMatchObject({
      ok: false,
      failure: { code: 'invalid_token', message: 'no key of the issuer matches the token' },
    });

    // Without any new token: once the key set is past its refresh age, a cached token is verified again, which
    // fetches the key set, as it would be without the cache.
    const current = await sign(second, 'b', 'bob', 3 * 3600);
    for (let k = 0; k < 2; k++) expect((await auth.authenticate(bearer(current))).ok).toBe(true);
    expect(auth.tokenCache.hits).toBe(2);
    jwks.set({ keys: [await jwk(first, 'a')] });
    vi.setSystemTime(Date.now() + 11 * 60_000);
    expect(await auth.authenticate(bearer(current))).toMatchObject({ ok: false, failure: { code: 'invalid_token' } });
    expect(jwks.fetches()).toBe(3);
  });

  it('keeps at most its bound of entries, dropping the least recently used', async () => {
    const jwks = await jwksEndpoint({ keys: [await jwk(first, 'a')] });
    const auth = await authenticator(jwks.url);
    const max = VERIFIED_TOKEN_CACHE.maxEntries;
    const tokens = await Promise.all(Array.from({ length: max + 1 }, (_, k) => sign(first, 'a', `user-${k}`, 3600)));
    // Loads the key set.
    expect((await auth.authenticate(bearer(await sign(first, 'a', 'warm-up', 3600)))).ok).toBe(true);
    for (const t of tokens.slice(0, max)) expect((await auth.authenticate(bearer(t))).ok).toBe(true);
    // The first is used again, so the second is now the least recently used.
    expect((await auth.authenticate(bearer(tokens[0]!))).ok).toBe(true);
    expect(auth.tokenCache).toEqual({ entries: max, hits: 1 });
    expect((await auth.authenticate(bearer(tokens[max]!))).ok).toBe(true);
    expect(auth.tokenCache.entries).toBe(max);
    expect((await auth.authenticate(bearer(tokens[0]!))).ok).toBe(true);
    expect(auth.tokenCache.hits).toBe(2);
    expect((await auth.authenticate(bearer(tokens[1]!))).ok).toBe(true);
    // Dropped, so verified again rather than found.
    expect(auth.tokenCache.hits).toBe(2);
  }, 60_000);
});
