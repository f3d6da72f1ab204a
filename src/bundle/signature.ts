/**
 * Verifying signed bundles the way OPA does: `.signatures.json` holds one JWT
 * whose payload lists every file of the bundle with its hash; the JWT is
 * checked with jose, then the list against the archive, both ways. Structured
 * files (.manifest, data.json) are hashed over OPA's canonical JSON so that a
 * bundle OPA accepts is accepted here and the other way round. No Node
 * built-in: jose and the Web Crypto API run in Node, browsers and edge
 * runtimes alike, so every loader verifies with this one module.
 */
import { compactVerify, type CryptoKey, decodeProtectedHeader, importSPKI, importX509 } from 'jose';
import { BundleError, SIGNATURES_FILE } from './tar.js';

/** A key that can check a bundle signature: a PEM public key or certificate, or an HMAC secret. */
export interface VerificationOptions {
  /** PEM (SPKI public key or X.509 certificate) for RS/PS/ES algorithms; any other text is an HMAC secret. */
  readonly verificationKey: string | Uint8Array;
  /** The key id the signature must name when it names one (OPA's `keyid`); default: any. */
  readonly keyId?: string;
  /** The only algorithm accepted; default: the one in the signature, within the key's family. */
  readonly algorithm?: string;
  /** The `scope` the payload must carry (OPA's `scope`); default: none. */
  readonly scope?: string;
}

/** One entry of a signature's file list. */
interface SignedFile {
  readonly name: string;
  readonly hash: string;
  readonly algorithm: string;
}

/**
 * Hashes a file body with one of OPA's file-hash algorithms (as OPA names it),
 * to lowercase hex; undefined when the runtime cannot compute that algorithm.
 */
export type FileDigest = (algorithm: string, body: Uint8Array) => Promise<string | undefined>;

const WEB_HASHES: Record<string, string> = {
  'SHA-1': 'SHA-1',
  'SHA-256': 'SHA-256',
  'SHA-384': 'SHA-384',
  'SHA-512': 'SHA-512',
};

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * The Web Crypto API's hashes: SHA-1, SHA-256 (OPA's default), SHA-384 and
 * SHA-512. OPA's MD5, SHA-224 and SHA-512/224, /256 need a runtime that has them.
 */
export const webDigest: FileDigest = async (algorithm, body) => {
  const name = WEB_HASHES[algorithm];
  if (name === undefined) return undefined;
  return hex(new Uint8Array(await crypto.subtle.digest(name, body as Uint8Array<ArrayBuffer>)));
};

const bad = (
  code: 'bundle_signature_invalid' | 'bundle_file_mismatch' | 'bundle_unsigned',
  message: string,
  path = '',
) => new BundleError(code, message, path);

/** Go's JSON encoding of a string as OPA's hasher writes it (no HTML escaping, U+2028/9 escaped). */
function goString(s: string): string {
  return JSON.stringify(s.toWellFormed())
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** UTF-8 byte order, which is code point order (UTF-16 code units order surrogates before U+E000..U+FFFF). */
function byUtf8(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let k = 0; k < x.length && k < y.length; k++) {
    const d = x[k]!.codePointAt(0)! - y[k]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** OPA's canonical form of a parsed JSON value: keys in byte order, no white space. */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'string') return goString(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o).sort(byUtf8);
    return `{${keys.map((k) => `${goString(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** True for the files OPA hashes as JSON values rather than as bytes. */
function isStructured(name: string): boolean {
  const base = name.slice(name.lastIndexOf('/') + 1);
  return base === 'data.json' || base === '.manifest' || base === 'data.yaml';
}

/** The hash OPA records for one bundle file, computed by `digest`. */
export async function bundleFileHash(
  name: string,
  body: Uint8Array,
  algorithm = 'SHA-256',
  digest: FileDigest = webDigest,
): Promise<string> {
  let hashed = body;
  if (isStructured(name) && !name.endsWith('.yaml')) {
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(body));
    } catch {
      throw bad('bundle_file_mismatch', `${name} is not valid JSON, so its hash cannot be checked`, `/${name}`);
    }
    hashed = new TextEncoder().encode(canonicalJson(value));
  }
  const hash = await digest(algorithm, hashed);
  if (hash === undefined)
    throw bad(
      'bundle_signature_invalid',
      `unsupported hash algorithm ${JSON.stringify(algorithm)}`,
      `/${SIGNATURES_FILE}`,
    );
  return hash;
}

async function keyFor(options: VerificationOptions, alg: string): Promise<CryptoKey | Uint8Array> {
  if (options.algorithm !== undefined && options.algorithm !== alg) {
    throw bad(
      'bundle_signature_invalid',
      `bundle is signed with ${JSON.stringify(alg)}, but only ${JSON.stringify(options.algorithm)} is accepted`,
      `/${SIGNATURES_FILE}`,
    );
  }
  const key = options.verificationKey;
  const text = typeof key === 'string' ? key.trim() : undefined;
  const isPem = text?.startsWith('-----BEGIN') === true;
  const hmac = alg.startsWith('HS');
  // Refusing a family mismatch up front closes the classic confusion of an
  // RSA public key used as an HMAC secret.
  if (isPem === hmac) {
    throw bad(
      'bundle_signature_invalid',
      `bundle is signed with ${JSON.stringify(alg)}, which does not fit the verification key (${isPem ? 'a public key' : 'a secret'})`,
      `/${SIGNATURES_FILE}`,
    );
  }
  if (!isPem) return typeof key === 'string' ? new TextEncoder().encode(key) : key;
  try {
    return text!.includes('CERTIFICATE') ? await importX509(text!, alg) : await importSPKI(text!, alg);
  } catch (e) {
    throw new BundleError(
      'invalid_verification_key',
      `verification key is not a usable ${alg} public key: ${(e as Error).message}`,
      '',
      { cause: e },
    );
  }
}

function signedFiles(payload: unknown): SignedFile[] {
  const files = (payload as { files?: unknown } | null)?.files;
  if (!Array.isArray(files))
    throw bad('bundle_signature_invalid', 'signature payload has no file list', `/${SIGNATURES_FILE}`);
  return files.map((f: unknown, k) => {
    const e = f as Partial<SignedFile> | null;
    if (typeof e?.name !== 'string' || typeof e.hash !== 'string' || typeof e.algorithm !== 'string') {
      throw bad('bundle_signature_invalid', `signature payload file ${k} is malformed`, `/${SIGNATURES_FILE}`);
    }
    return { name: e.name.replace(/^\/+/, ''), hash: e.hash, algorithm: e.algorithm };
  });
}

/**
 * Verifies the signature of a bundle's files. Throws a {@link BundleError}:
 * `bundle_unsigned` without `.signatures.json`, `bundle_signature_invalid`
 * when the JWT does not verify with the key, `bundle_file_mismatch` when a
 * file is added, missing or changed, `invalid_verification_key` for a key
 * that cannot be used.
 */
export async function verifyBundleSignature(
  files: ReadonlyMap<string, Uint8Array>,
  options: VerificationOptions,
  digest: FileDigest = webDigest,
): Promise<void> {
  const raw = files.get(SIGNATURES_FILE);
  if (raw === undefined)
    throw bad('bundle_unsigned', 'bundle is not signed, but a verification key was given', `/${SIGNATURES_FILE}`);
  let token: unknown;
  try {
    const doc = JSON.parse(new TextDecoder().decode(raw)) as { signatures?: unknown };
    token = Array.isArray(doc.signatures) && doc.signatures.length === 1 ? doc.signatures[0] : undefined;
  } catch {
    token = undefined;
  }
  if (typeof token !== 'string') {
    throw bad(
      'bundle_signature_invalid',
      `${SIGNATURES_FILE} must hold exactly one signature`,
      `/${SIGNATURES_FILE}/signatures`,
    );
  }
  let alg: string;
  let headerKid: string | undefined;
  try {
    const header = decodeProtectedHeader(token);
    alg = String(header.alg);
    headerKid = typeof header.kid === 'string' ? header.kid : undefined;
  } catch (e) {
    throw new BundleError(
      'bundle_signature_invalid',
      'bundle signature is not a JWT',
      `/${SIGNATURES_FILE}/signatures/0`,
      { cause: e },
    );
  }
  const key = await keyFor(options, alg);
  let payload: Record<string, unknown>;
  try {
    const verified = await compactVerify(token, key, { algorithms: [alg] });
    payload = JSON.parse(new TextDecoder().decode(verified.payload)) as Record<string, unknown>;
  } catch (e) {
    throw new BundleError(
      'bundle_signature_invalid',
      `bundle signature does not verify: ${(e as Error).message.toLowerCase()}`,
      `/${SIGNATURES_FILE}/signatures/0`,
      {
        cause: e,
      },
    );
  }
  const kid = typeof payload.keyid === 'string' && payload.keyid !== '' ? payload.keyid : headerKid;
  if (options.keyId !== undefined && kid !== undefined && kid !== options.keyId) {
    throw bad(
      'bundle_signature_invalid',
      `bundle is signed by key ${JSON.stringify(kid)}, expected ${JSON.stringify(options.keyId)}`,
      `/${SIGNATURES_FILE}/signatures/0`,
    );
  }
  if ((payload.scope ?? '') !== (options.scope ?? '')) {
    throw bad(
      'bundle_signature_invalid',
      `bundle signature scope ${JSON.stringify(payload.scope ?? '')} does not match ${JSON.stringify(options.scope ?? '')}`,
      `/${SIGNATURES_FILE}/signatures/0`,
    );
  }
  const listed = new Map(signedFiles(payload).map((f) => [f.name, f]));
  for (const [name, body] of files) {
    if (name === SIGNATURES_FILE) continue;
    const entry = listed.get(name);
    if (entry === undefined)
      throw bad(
        'bundle_file_mismatch',
        `bundle file ${JSON.stringify(name)} is not covered by the signature`,
        `/${name}`,
      );
    if ((await bundleFileHash(name, body, entry.algorithm, digest)) !== entry.hash.toLowerCase()) {
      throw bad(
        'bundle_file_mismatch',
        `bundle file ${JSON.stringify(name)} does not match its signed hash`,
        `/${name}`,
      );
    }
  }
  for (const name of listed.keys()) {
    if (!files.has(name))
      throw bad('bundle_file_mismatch', `signed file ${JSON.stringify(name)} is missing from the bundle`, `/${name}`);
  }
}
