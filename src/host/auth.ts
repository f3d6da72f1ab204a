/**
 * Bearer and JWT authentication for the hosts that take requests over HTTP
 * (an MCP gateway, a decision point): the one implementation they share.
 *
 * The host is an OAuth 2.1 resource server (RFC 6750, RFC 9728, the MCP
 * authorization spec): an access token is a JWT signed by the configured
 * issuer for this resource (its canonical URI is the audience), checked
 * against a JWKS (a local file or a remote URL) or one public key, with an
 * algorithm allow-list, a clock tolerance and a size limit; or, for service
 * to service calls, one of a few static tokens compared in constant time.
 * `authenticate` never throws: it answers a principal, or a coded failure
 * with the status and the `WWW-Authenticate` challenge to send. No token is
 * ever logged or put in a message; a verified JWT is kept in memory only, to
 * skip verifying it again (see {@link VERIFIED_TOKEN_CACHE}).
 */
import { createHash, createPublicKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
} from 'jose';
import { type ErrorCode, McpPolicyError } from '../core/errors.js';

/** Signature algorithms a token may use: asymmetric ones only, since the host never holds the issuer's secret. */
export const JWT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

/** Largest bearer token accepted by default, in characters. */
export const DEFAULT_MAX_TOKEN_LENGTH = 8192;
/** Default leeway for `exp` and `nbf`, in seconds. */
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30;
/** Largest clock tolerance a configuration may set, in seconds. */
export const MAX_CLOCK_TOLERANCE_SECONDS = 300;
/** Largest local JWKS file read, in bytes. */
const MAX_JWKS_FILE_BYTES = 1024 * 1024;
/** Shortest static token: anything shorter can be guessed. */
export const MIN_STATIC_TOKEN_LENGTH = 32;

/**
 * Verified JWTs kept so a client that sends the same token with every
 * request (an MCP session does) is not checked again each time: a signature
 * check costs more than the rest of a decision. An entry is keyed by the
 * exact token text and answers the same principal only while the token is
 * still unexpired (its `exp` with the clock tolerance, as verifying would
 * judge it) and, for a remote JWKS, only while the key set it was verified
 * with is still the current one and within its refresh age: any fetch of the
 * key set drops every entry verified before it (and nothing verified while
 * one is under way is kept), so a key rotated out stops its tokens exactly
 * when verifying them again would. Failures are never kept. The least recently used entry goes first past `maxEntries`.
 */
export const VERIFIED_TOKEN_CACHE = { maxEntries: 1_000 } as const;

/** How JWT access tokens are verified. */
export interface JwtOptions {
  /** The issuer every token must name in `iss`, exactly (the authorization server). */
  readonly issuer: string;
  /** The audiences a token may name in `aud`; the resource's canonical URI when absent. */
  readonly audience?: string | readonly string[];
  /** The algorithms a token may be signed with, from {@link JWT_ALGORITHMS}. */
  readonly algorithms: readonly string[];
  /** Exactly one source of keys: a remote JWKS (https, or http on loopback), a JWKS file, or a PEM public key. */
  readonly jwksUrl?: string;
  readonly jwksFile?: string;
  readonly publicKey?: string;
  /** Leeway for `exp` and `nbf` in seconds ({@link DEFAULT_CLOCK_TOLERANCE_SECONDS}). */
  readonly clockToleranceSeconds?: number;
  /** How long a remote JWKS fetch may take, in milliseconds (5,000). */
  readonly jwksTimeoutMs?: number;
  /** The claim holding the principal's groups or roles (an array of strings, or one string); none when absent. */
  readonly groupsClaim?: string;
  /** Claims copied into the principal's `claims`, by name; only these. */
  readonly claims?: readonly string[];
}

/** A static bearer token for a service, and the principal it stands for. */
export interface StaticToken {
  /** The token (at least {@link MIN_STATIC_TOKEN_LENGTH} characters of RFC 6750's token alphabet). */
  readonly token: string;
  readonly subject: string;
  readonly scopes?: readonly string[];
  readonly groups?: readonly string[];
}

/** What {@link createAuthenticator} takes. */
export interface AuthOptions {
  /**
   * The resource's canonical URI (RFC 8707): the audience of its tokens, and `resource` in its metadata.
   * Absent for a host that publishes no RFC 9728 metadata (a decision point behind a gateway): JWTs must
   * then name a configured `jwt.audience`, and challenges carry no `resource_metadata`.
   */
  readonly resource?: string;
  /**
   * Where the RFC 9728 metadata is published, named in every challenge as
   * `resource_metadata`; by default the well-known URL derived from `resource`.
   */
  readonly resourceMetadata?: string;
  /** The challenge's `realm`, when given. */
  readonly realm?: string;
  readonly jwt?: JwtOptions;
  readonly staticTokens?: readonly StaticToken[];
  /** Scopes every request needs (more can be asked per call). */
  readonly requiredScopes?: readonly string[];
  /** Longest token accepted, in characters ({@link DEFAULT_MAX_TOKEN_LENGTH}). */
  readonly maxTokenLength?: number;
}

/** Who made a request. */
export interface Principal {
  /** `jwt` for an access token, `static` for a configured service token. */
  readonly method: 'jwt' | 'static';
  /** The token's `sub`, or the static token's subject. */
  readonly subject: string;
  /** The token's `iss`; `static` for a static token. */
  readonly issuer: string;
  /** The granted scopes (`scope`, space-separated, or `scp`). */
  readonly scopes: readonly string[];
  /** The groups or roles of the configured claim. */
  readonly groups: readonly string[];
  /** The configured claims the token carries, by name. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** When the token expires, in seconds since the epoch (JWTs). */
  readonly expiresAt?: number;
}

/** The codes an authentication can fail with. */
export type AuthFailureCode = Extract<
  ErrorCode,
  'missing_token' | 'invalid_auth_header' | 'invalid_token' | 'insufficient_scope' | 'auth_unavailable'
>;

/** Why a request is not authenticated, and what to answer. */
export interface AuthFailure {
  readonly code: AuthFailureCode;
  /** 401 (no or bad token), 400 (malformed header), 403 (insufficient scope), 503 (keys unreachable). */
  readonly status: 400 | 401 | 403 | 503;
  /** Lowercase; never holds the token. */
  readonly message: string;
  /** Response headers: `www-authenticate` for 400, 401 and 403. */
  readonly headers: Readonly<Record<string, string>>;
}

/** A refused request: what {@link Authenticator.authenticate} answers when it does not authenticate. */
export interface AuthRefusal {
  readonly ok: false;
  readonly failure: AuthFailure;
}

/** The outcome of {@link Authenticator.authenticate}. */
export type AuthResult = { readonly ok: true; readonly principal: Principal } | AuthRefusal;

/** Request headers as Node's `IncomingHttpHeaders`, a plain record, or fetch's `Headers`. */
export type RequestHeaders =
  Readonly<Record<string, string | readonly string[] | undefined>> | { get(name: string): string | null };

/** RFC 6750 `b64token`. */
const TOKEN_SYNTAX = /^[A-Za-z0-9\-._~+/]+=*$/;
/** What a quoted-string auth-param value or an `error_description` may hold (RFC 6750 section 3). */
const PARAM_SYNTAX = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * Why `token` cannot be a static token, or undefined when it can: at least
 * {@link MIN_STATIC_TOKEN_LENGTH} characters of RFC 6750's token alphabet,
 * at most `maxLength`. Never quotes the token.
 */
export function staticTokenProblem(token: string, maxLength = DEFAULT_MAX_TOKEN_LENGTH): string | undefined {
  if (token.length < MIN_STATIC_TOKEN_LENGTH || !TOKEN_SYNTAX.test(token)) {
    return `must be at least ${MIN_STATIC_TOKEN_LENGTH} characters of letters, digits and -._~+/`;
  }
  return token.length > maxLength ? `is longer than ${maxLength} characters` : undefined;
}

/** The RFC 9728 metadata of a protected resource, for `/.well-known/oauth-protected-resource`. */
export interface ProtectedResourceMetadata {
  readonly resource: string;
  readonly authorization_servers?: readonly string[];
  readonly bearer_methods_supported: readonly string[];
  readonly scopes_supported?: readonly string[];
}

/**
 * The well-known metadata URL of a resource (RFC 9728 section 3.1): the
 * well-known path goes between the host and the resource's path.
 */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${url.origin}/.well-known/oauth-protected-resource${path}${url.search}`;
}

function configError(message: string): McpPolicyError {
  return new McpPolicyError('invalid_auth_config', message);
}

function isLoopback(url: URL): boolean {
  const host = url.hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** An absolute https URL (http on loopback only), without a fragment. */
function checkUrl(what: string, text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw configError(`${what} ${JSON.stringify(text)} is not an absolute url`);
  }
  if (!(url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url)))) {
    throw configError(`${what} ${JSON.stringify(text)} must use https (http only on a loopback address)`);
  }
  if (url.hash !== '') throw configError(`${what} ${JSON.stringify(text)} must not have a fragment`);
  if (url.username !== '' || url.password !== '') {
    throw configError(`${what} ${JSON.stringify(text)} must not carry credentials`);
  }
  return url;
}

function checkParam(what: string, value: string): void {
  if (!PARAM_SYNTAX.test(value)) {
    throw configError(`${what} ${JSON.stringify(value)} has characters a www-authenticate header cannot carry`);
  }
}

function checkScopes(what: string, scopes: readonly string[] | undefined): void {
  for (const s of scopes ?? []) {
    // RFC 6749 scope-token: printable ASCII but space, quote and backslash.
    if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s)) throw configError(`${what} ${JSON.stringify(s)} is not a valid scope`);
  }
}

class KeySetUnavailable extends Error {}

/**
 * A key resolver that tells the key set's own failures (unreachable,
 * malformed) from the token's (no key with its `kid`).
 */
function unavailableOnFailure(getKey: JWTVerifyGetKey): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await getKey(header, token);
    } catch (e) {
      if (e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys) throw e;
      if (e instanceof errors.JOSEAlgNotAllowed || e instanceof errors.JOSENotSupported) throw e;
      throw new KeySetUnavailable(e instanceof Error ? e.message : String(e), { cause: e });
    }
  };
}

async function readJwksFile(path: string): Promise<JSONWebKeySet> {
  let text: string;
  try {
    const bytes = await readFile(path);
    if (bytes.length > MAX_JWKS_FILE_BYTES) throw configError(`the jwks file ${JSON.stringify(path)} is too large`);
    text = bytes.toString('utf8');
  } catch (e) {
    if (e instanceof McpPolicyError) throw e;
    throw configError(`cannot read the jwks file ${JSON.stringify(path)}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw configError(`the jwks file ${JSON.stringify(path)} is not json`);
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw configError(`the jwks file ${JSON.stringify(path)} has no "keys" array with a key in it`);
  }
  return parsed as JSONWebKeySet;
}

type KeySource = KeyObject | JWTVerifyGetKey;

/**
 * The keys tokens are verified with, and whether a token verified earlier
 * still stands for them: `generation` counts the fetches of a remote key set
 * started, `reloading` is true from the start of a fetch until its keys are
 * in place, and `fresh` is false once the set is due to be fetched again.
 * Fixed keys (a file, a PEM key) never change while the host runs.
 */
interface Keys {
  readonly source: KeySource;
  generation(): number;
  reloading(): boolean;
  fresh(): boolean;
}

async function keySource(jwt: JwtOptions): Promise<Keys> {
  const given = [jwt.jwksUrl, jwt.jwksFile, jwt.publicKey].filter((k) => k !== undefined).length;
  if (given !== 1) throw configError('jwt needs exactly one of jwksUrl, jwksFile and publicKey');
  const fixed = (source: KeySource): Keys => ({
    source,
    generation: () => 0,
    reloading: () => false,
    fresh: () => true,
  });
  if (jwt.jwksUrl !== undefined) {
    const timeout = jwt.jwksTimeoutMs ?? 5000;
    if (!Number.isInteger(timeout) || timeout <= 0) throw configError('jwksTimeoutMs must be a positive integer');
    let fetches = 0;
    const remote = createRemoteJWKSet(checkUrl('the jwks url', jwt.jwksUrl), {
      timeoutDuration: timeout,
      [customFetch]: (...args: Parameters<typeof fetch>) => {
        fetches++;
        return fetch(...args);
      },
    });
    return {
      source: unavailableOnFailure(remote),
      generation: () => fetches,
      reloading: () => remote.reloading,
      fresh: () => remote.fresh,
    };
  }
  if (jwt.jwksFile !== undefined) {
    // A local set cannot be unreachable: its failures are the token's.
    return fixed(createLocalJWKSet(await readJwksFile(jwt.jwksFile)));
  }
  try {
    const key = createPublicKey(jwt.publicKey!);
    if (key.type !== 'public') throw new Error('not a public key');
    return fixed(key);
  } catch {
    throw configError('the public key is not a pem public key');
  }
}

/** A verified JWT's principal, and until when it may be answered without verifying again. */
interface Verified {
  readonly principal: Principal;
  /** Milliseconds since the epoch: `exp` plus the clock tolerance. */
  readonly until: number;
  readonly generation: number;
}

interface StaticEntry {
  readonly digest: Buffer;
  readonly principal: Principal;
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

function stringList(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

function scopesOf(payload: JWTPayload): string[] {
  if (typeof payload.scope === 'string') return payload.scope.split(' ').filter((s) => s !== '');
  const scp = payload.scp;
  if (typeof scp === 'string') return scp.split(' ').filter((s) => s !== '');
  return stringList(scp);
}

/** Keeps what an `error_description` may carry (RFC 6750 section 3). */
function description(message: string): string {
  return message.replaceAll('"', "'").replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '?');
}

/** Verifies bearer tokens for one resource; made by {@link createAuthenticator}. */
export class Authenticator {
  private constructor(
    private readonly options: AuthOptions,
    private readonly metadataUrl: string | undefined,
    private readonly key: Keys | undefined,
    private readonly statics: readonly StaticEntry[],
    private readonly maxTokenLength: number,
  ) {}

  /** See {@link VERIFIED_TOKEN_CACHE}; in insertion order, the most recently used last. */
  private readonly verified = new Map<string, Verified>();
  private cacheHits = 0;

  /** Verified JWTs kept now, and how many requests were answered from them without verifying again. */
  get tokenCache(): { readonly entries: number; readonly hits: number } {
    return { entries: this.verified.size, hits: this.cacheHits };
  }

  /** Checks the options and loads the keys; throws `invalid_auth_config`. */
  static async create(options: AuthOptions): Promise<Authenticator> {
    if (options.resource !== undefined) checkUrl('the resource', options.resource);
    const metadataUrl =
      options.resourceMetadata ??
      (options.resource === undefined ? undefined : protectedResourceMetadataUrl(options.resource));
    if (metadataUrl !== undefined) {
      checkUrl('the resource metadata url', metadataUrl);
      checkParam('the resource metadata url', metadataUrl);
    }
    if (options.realm !== undefined) checkParam('the realm', options.realm);
    checkScopes('the required scope', options.requiredScopes);
    const maxTokenLength = options.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH;
    if (!Number.isInteger(maxTokenLength) || maxTokenLength < 16) {
      throw configError('maxTokenLength must be an integer of at least 16');
    }
    if (options.jwt === undefined && (options.staticTokens ?? []).length === 0) {
      throw configError('authentication needs jwt verification or at least one static token');
    }
    let key: Keys | undefined;
    if (options.jwt !== undefined) {
      const jwt = options.jwt;
      checkUrl('the issuer', jwt.issuer);
      if (jwt.algorithms.length === 0) throw configError('jwt needs at least one allowed algorithm');
      for (const alg of jwt.algorithms) {
        if (!(JWT_ALGORITHMS as readonly string[]).includes(alg)) {
          throw configError(
            `the algorithm ${JSON.stringify(alg)} is not allowed; use one of ${JWT_ALGORITHMS.join(', ')}`,
          );
        }
      }
      const audiences = jwt.audience === undefined ? [] : stringList(jwt.audience);
      if (jwt.audience !== undefined && audiences.length === 0) throw configError('jwt audience is empty');
      if (jwt.audience === undefined && options.resource === undefined) {
        throw configError('jwt needs an audience when no resource is given');
      }
      const tolerance = jwt.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
      if (!Number.isFinite(tolerance) || tolerance < 0 || tolerance > MAX_CLOCK_TOLERANCE_SECONDS) {
        throw configError(`clockToleranceSeconds must be between 0 and ${MAX_CLOCK_TOLERANCE_SECONDS}`);
      }
      key = await keySource(jwt);
    }
    const seen = new Set<string>();
    const statics = (options.staticTokens ?? []).map((s, k): StaticEntry => {
      const problem = staticTokenProblem(s.token, maxTokenLength);
      if (problem !== undefined) throw configError(`static token ${k} ${problem}`);
      if (seen.has(s.token)) throw configError(`static token ${k} repeats an earlier one`);
      seen.add(s.token);
      if (s.subject === '') throw configError(`static token ${k} needs a subject`);
      checkScopes(`static token ${k} has the scope`, s.scopes);
      return {
        digest: sha256(s.token),
        principal: {
          method: 'static',
          subject: s.subject,
          issuer: 'static',
          scopes: [...(s.scopes ?? [])],
          groups: [...(s.groups ?? [])],
          claims: {},
        },
      };
    });
    return new Authenticator(options, metadataUrl, key, statics, maxTokenLength);
  }

  /** The RFC 9728 metadata document of the resource; throws `invalid_auth_config` when no resource is given. */
  metadata(): ProtectedResourceMetadata {
    if (this.options.resource === undefined) throw configError('no resource is given, so it has no metadata');
    return {
      resource: this.options.resource,
      ...(this.options.jwt && { authorization_servers: [this.options.jwt.issuer] }),
      bearer_methods_supported: ['header'],
      ...(this.options.requiredScopes?.length && { scopes_supported: [...this.options.requiredScopes] }),
    };
  }

  /** Where the metadata is published (`resource_metadata` in challenges); undefined without a resource. */
  get resourceMetadataUrl(): string | undefined {
    return this.metadataUrl;
  }

  /**
   * Authenticates a request by its `Authorization` header: a principal, or a
   * failure with its status and challenge. `scopes` are needed on top of the
   * configured ones. Never throws; never keeps or reports the token.
   */
  async authenticate(headers: RequestHeaders, options: { scopes?: readonly string[] } = {}): Promise<AuthResult> {
    const needed = [...new Set([...(this.options.requiredScopes ?? []), ...(options.scopes ?? [])])];
    try {
      const read = this.readToken(headers, needed);
      if ('failure' in read) return read;
      const principal = this.staticPrincipal(read.token) ?? (await this.jwtPrincipal(read.token, needed));
      if ('failure' in principal) return principal;
      const missing = needed.filter((s) => !principal.scopes.includes(s));
      if (missing.length > 0) {
        return this.fail(
          'insufficient_scope',
          `the token lacks the scope ${missing.map((s) => JSON.stringify(s)).join(', ')}`,
          needed,
        );
      }
      return { ok: true, principal };
    } catch {
      // Nothing above should throw; if it does, the request is refused, not let through.
      return this.fail('invalid_token', 'the token cannot be verified', needed);
    }
  }

  private readToken(headers: RequestHeaders, needed: readonly string[]): { token: string } | AuthRefusal {
    const values = authorizationValues(headers);
    if (values.length === 0) return this.fail('missing_token', 'the request has no authorization header', needed);
    if (values.length > 1) {
      return this.fail('invalid_auth_header', 'the request has more than one authorization header', needed);
    }
    const value = values[0]!;
    // Cut before any parsing, so an oversized header costs nothing more.
    if (value.length > this.maxTokenLength + 64) {
      return this.fail('invalid_token', `the token is longer than ${this.maxTokenLength} characters`, needed);
    }
    // Parsed by hand: a regular expression with two spaced groups backtracks on a long header of spaces.
    const space = value.indexOf(' ');
    if (space <= 0) {
      return this.fail('invalid_auth_header', 'the authorization header is not a scheme and credentials', needed);
    }
    const scheme = value.slice(0, space);
    if (scheme.toLowerCase() !== 'bearer') {
      // Only a scheme that looks like one is quoted: text without a space may be a credential.
      const shown = /^[A-Za-z][A-Za-z0-9-]{0,19}$/.test(scheme) ? ` ${JSON.stringify(scheme.toLowerCase())}` : '';
      return this.fail('missing_token', `the authorization header uses the scheme${shown}, not bearer`, needed);
    }
    let start = space;
    while (value[start] === ' ') start++;
    let end = value.length;
    while (end > start && value[end - 1] === ' ') end--;
    const token = value.slice(start, end);
    if (token === '' || !TOKEN_SYNTAX.test(token)) {
      return this.fail(
        'invalid_auth_header',
        'the bearer token is empty or has characters a token cannot have',
        needed,
      );
    }
    if (token.length > this.maxTokenLength) {
      return this.fail('invalid_token', `the token is longer than ${this.maxTokenLength} characters`, needed);
    }
    return { token };
  }

  /** The principal of a static token; every configured token is compared, in constant time. */
  private staticPrincipal(token: string): Principal | undefined {
    if (this.statics.length === 0) return undefined;
    const digest = sha256(token);
    let found: Principal | undefined;
    for (const entry of this.statics) {
      if (timingSafeEqual(entry.digest, digest) && found === undefined) found = entry.principal;
    }
    return found;
  }

  private async jwtPrincipal(token: string, needed: readonly string[]): Promise<Principal | AuthRefusal> {
    const jwt = this.options.jwt;
    if (jwt === undefined || this.key === undefined) {
      return this.fail('invalid_token', 'the token is not one this resource accepts', needed);
    }
    const generation = this.key.generation();
    const settled = !this.key.reloading();
    const known = this.verified.get(token);
    if (known !== undefined) {
      this.verified.delete(token);
      if (Date.now() < known.until && known.generation === generation && settled && this.key.fresh()) {
        this.verified.set(token, known);
        this.cacheHits++;
        return known.principal;
      }
    }
    const verified = await this.verifyJwt(jwt, token, needed);
    if ('failure' in verified) return verified;
    // Kept only when the keys stayed the same throughout: no fetch under way, none started meanwhile.
    if (!settled || this.key.reloading() || this.key.generation() !== generation) return verified;
    const tolerance = jwt.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
    // jwtVerify requires `exp`, so every verified principal has one.
    const until = ((verified.expiresAt ?? 0) + tolerance) * 1000;
    this.verified.set(token, { principal: verified, until, generation });
    if (this.verified.size > VERIFIED_TOKEN_CACHE.maxEntries) {
      const oldest = this.verified.keys().next();
      if (oldest.done !== true) this.verified.delete(oldest.value);
    }
    return verified;
  }

  private async verifyJwt(jwt: JwtOptions, token: string, needed: readonly string[]): Promise<Principal | AuthRefusal> {
    let payload: JWTPayload;
    try {
      const verified = await jwtVerify(token, this.key!.source, {
        issuer: jwt.issuer,
        // One of the two is set: create refuses jwt options with neither.
        audience: jwt.audience === undefined ? this.options.resource! : stringList(jwt.audience),
        algorithms: [...jwt.algorithms],
        clockTolerance: jwt.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp', 'sub'],
      });
      payload = verified.payload;
    } catch (e) {
      return this.joseFailure(e, needed);
    }
    if (typeof payload.sub !== 'string' || payload.sub === '') {
      return this.fail('invalid_token', 'the token has no subject', needed);
    }
    const claims: Record<string, unknown> = {};
    for (const name of jwt.claims ?? []) if (Object.hasOwn(payload, name)) claims[name] = payload[name];
    return {
      method: 'jwt',
      subject: payload.sub,
      issuer: jwt.issuer,
      scopes: scopesOf(payload),
      groups: jwt.groupsClaim === undefined ? [] : stringList(payload[jwt.groupsClaim]),
      claims,
      ...(typeof payload.exp === 'number' && { expiresAt: payload.exp }),
    };
  }

  private joseFailure(e: unknown, needed: readonly string[]): AuthRefusal {
    if (e instanceof KeySetUnavailable) {
      return this.fail('auth_unavailable', 'the key set of the issuer cannot be fetched', needed);
    }
    const why =
      e instanceof errors.JWTExpired
        ? 'the token has expired'
        : e instanceof errors.JWTClaimValidationFailed
          ? `the token's ${JSON.stringify(e.claim)} claim is not accepted (${e.reason})`
          : e instanceof errors.JOSEAlgNotAllowed
            ? 'the token is signed with an algorithm this resource does not allow'
            : e instanceof errors.JWSSignatureVerificationFailed
              ? 'the token signature does not verify'
              : e instanceof errors.JWKSNoMatchingKey
                ? 'no key of the issuer matches the token'
                : e instanceof errors.JWKSMultipleMatchingKeys
                  ? 'several keys of the issuer match the token and it names none'
                  : e instanceof errors.JOSEError
                    ? 'the token is not a valid signed jwt'
                    : 'the token cannot be verified';
    return this.fail('invalid_token', why, needed);
  }

  private fail(code: AuthFailureCode, message: string, scopes: readonly string[]): AuthRefusal {
    const status = STATUS[code];
    const params: string[] = [];
    if (this.options.realm !== undefined) params.push(`realm="${this.options.realm}"`);
    const error = BEARER_ERROR[code];
    if (error !== undefined) params.push(`error="${error}"`, `error_description="${description(message)}"`);
    if (scopes.length > 0) params.push(`scope="${scopes.join(' ')}"`);
    if (this.metadataUrl !== undefined) params.push(`resource_metadata="${this.metadataUrl}"`);
    const challenge = params.length === 0 ? 'Bearer' : `Bearer ${params.join(', ')}`;
    const headers: Record<string, string> = status === 503 ? {} : { 'www-authenticate': challenge };
    return { ok: false, failure: { code, status, message, headers } };
  }
}

const STATUS: Record<AuthFailureCode, AuthFailure['status']> = {
  missing_token: 401,
  invalid_auth_header: 400,
  invalid_token: 401,
  insufficient_scope: 403,
  auth_unavailable: 503,
};

/** RFC 6750 error codes; none for a request without credentials (section 3.1). */
const BEARER_ERROR: Record<AuthFailureCode, string | undefined> = {
  missing_token: undefined,
  invalid_auth_header: 'invalid_request',
  invalid_token: 'invalid_token',
  insufficient_scope: 'insufficient_scope',
  auth_unavailable: undefined,
};

function authorizationValues(headers: RequestHeaders): string[] {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    const value = (headers as { get(name: string): string | null }).get('authorization');
    return value === null ? [] : [value];
  }
  const out: string[] = [];
  for (const [name, value] of Object.entries(headers as Record<string, string | readonly string[] | undefined>)) {
    if (name.toLowerCase() !== 'authorization' || value === undefined) continue;
    if (typeof value === 'string') out.push(value);
    else out.push(...value);
  }
  return out;
}

/** Makes an {@link Authenticator}: checks the options and loads the keys. Throws `invalid_auth_config`. */
export function createAuthenticator(options: AuthOptions): Promise<Authenticator> {
  return Authenticator.create(options);
}
