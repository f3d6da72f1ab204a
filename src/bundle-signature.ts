/**
 * Verifying signed bundles the way OPA does: `.signatures.json` holds one JWT
 * whose payload lists every file of the bundle with its hash; the JWT is
 * checked with jose, then the list against the archive, both ways. Structured
 * files (.manifest, data.json) are hashed over OPA's canonical JSON so that a
 * bundle OPA accepts is accepted here and the other way round.
 */
import { createHash, createSecretKey, type KeyObject } from 'node:crypto';
import { compactVerify, type CryptoKey, decodeProtectedHeader, importSPKI, importX509 } from 'jose';
import { BundleError, SIGNATURES_FILE } from './bundle.js';

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

const HASHES: Record<string, string> = {
  MD5: 'md5',
  'SHA-1': 'sha1',
  'SHA-224': 'sha224',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
  'SHA-512-224': 'sha512-224',
  'SHA-512-256': 'sha512-256',
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

function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
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

/** The hash OPA records for one bundle file. */
export function bundleFileHash(name: string, body: Uint8Array, algorithm = 'SHA-256'): string {
  const alg = HASHES[algorithm];
  if (alg === undefined)
    throw bad(
      'bundle_signature_invalid',
      `unsupported hash algorithm ${JSON.stringify(algorithm)}`,
      `/${SIGNATURES_FILE}`,
    );
  const h = createHash(alg);
  if (isStructured(name) && !name.endsWith('.yaml')) {
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(body));
    } catch {
      throw bad('bundle_file_mismatch', `${name} is not valid JSON, so its hash cannot be checked`, `/${name}`);
    }
    h.update(canonicalJson(value));
  } else {
    h.update(body);
  }
  return h.digest('hex');
}

async function keyFor(options: VerificationOptions, alg: string): Promise<KeyObject | CryptoKey | Uint8Array> {
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
  if (!isPem) return createSecretKey(typeof key === 'string' ? Buffer.from(key) : key);
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
    if (bundleFileHash(name, body, entry.algorithm) !== entry.hash.toLowerCase()) {
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
