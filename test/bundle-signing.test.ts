/**
 * Signed bundles: signed as OPA signs them (opa build), verified with jose in
 * every mcp-policy loader; a bundle whose signature, file list or hashes do not
 * check is refused with a stable code and none of it is used.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CompactSign, importPKCS8 } from 'jose';
import { BundleError, nodeDigest, readBundleFiles, writeBundle } from '../src/bundle/read.js';
import { bundleFileHash, canonicalJson, type VerificationOptions } from '../src/bundle/signature.js';
import { compilePolicy, type CompiledPolicy } from '../src/pipeline/build.js';
import { PortableWasmEngine } from '../src/edge/index.js';
import { WasmEngine } from '../src/engines/wasm.js';
import { opaConfig } from '../src/fleet/opa-config.js';
import { rsaKeyPair, tamperings } from './fleet-helpers.js';
import { cli, examplePolicies, mustParse } from './helpers.js';

const productionFile = examplePolicies().find((e) => e.name === 'production')!.policyFile;
const production = () => mustParse(readFileSync(productionFile, 'utf8'));
const request = { action: 'load', serverType: 'registry', serverSource: 'mcp/fetch' };

type Load = (bytes: Uint8Array, verification: VerificationOptions) => Promise<{ decideSync(r: unknown): unknown }>;

/** Every loader that verifies: Node's (zlib, Node's hashes) and the portable one (DecompressionStream, Web Crypto). */
const LOADERS: Record<string, Load> = {
  node: (bytes, verification) => WasmEngine.load(bytes, verification),
  portable: (bytes, verification) => PortableWasmEngine.load(bytes, undefined, verification),
};

async function refused(bytes: Uint8Array, key: string, load: Load = LOADERS.node!): Promise<BundleError> {
  const e: unknown = await load(bytes, { verificationKey: key }).then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(BundleError);
  return e as BundleError;
}

describe('signed bundles', () => {
  const rsa = rsaKeyPair();
  let signed: CompiledPolicy;

  it('signs with .signatures.json over every file and loads only with the right key', async () => {
    signed = await compilePolicy(production(), {}, { signingKey: rsa.privateKey });
    const files = readBundleFiles(signed.bundle);
    expect([...files.keys()].sort()).toContain('.signatures.json');
    const engine = await WasmEngine.load(signed.bundle, { verificationKey: rsa.publicKey });
    expect(engine.revision).toBe(signed.revision);
    const other = rsaKeyPair();
    for (const [name, load] of Object.entries(LOADERS)) {
      const loaded = await load(signed.bundle, { verificationKey: rsa.publicKey });
      expect(loaded.decideSync(request), name).toMatchObject({ allowed: true, rule: 0 });
      expect(await refused(signed.bundle, other.publicKey, load), name).toMatchObject({
        code: 'bundle_signature_invalid',
      });
      expect(await refused(signed.bundle, 'a-secret', load), name).toMatchObject({ code: 'bundle_signature_invalid' });
      expect(
        await refused(signed.bundle, '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----', load),
        name,
      ).toMatchObject({ code: 'invalid_verification_key' });
    }
  });

  it('refuses each tampering: changed byte, added file, removed file; and unsigned or bare wasm when a key is required', async () => {
    const cases = tamperings(signed.bundle);
    const unsigned = await compilePolicy(production());
    expect(unsigned.revision).toBe(signed.revision);
    for (const [name, load] of Object.entries(LOADERS)) {
      const refusal = (bytes: Uint8Array) => refused(bytes, rsa.publicKey, load);
      expect((await refusal(cases['one byte changed in policy.wasm']!)).code, name).toBe('bundle_file_mismatch');
      expect(await refusal(cases['a file added']!), name).toMatchObject({
        code: 'bundle_file_mismatch',
        path: '/extra/data.json',
      });
      expect(await refusal(cases['a file removed']!), name).toMatchObject({
        code: 'bundle_file_mismatch',
        path: '/mcp_policy/lib.rego',
      });
      expect(await refusal(unsigned.bundle), name).toMatchObject({ code: 'bundle_unsigned' });
      expect(await refusal(signed.wasm), name).toMatchObject({ code: 'bundle_unsigned' });
    }
  });

  it("verifies files hashed with OPA's other algorithms where the runtime has them", async () => {
    // A signature as OPA writes it, but listing MD5 and SHA-512 hashes: OPA accepts both.
    const files = readBundleFiles(signed.bundle);
    files.delete('.signatures.json');
    const algorithms = ['MD5', 'SHA-512'];
    const listed = await Promise.all(
      [...files].map(async ([name, body], k) => {
        const algorithm = algorithms[k % 2]!;
        return { name, hash: await bundleFileHash(name, body, algorithm, nodeDigest), algorithm };
      }),
    );
    const jwt = await new CompactSign(new TextEncoder().encode(JSON.stringify({ files: listed, keyid: 'default' })))
      .setProtectedHeader({ alg: 'RS256' })
      .sign(await importPKCS8(rsa.privateKey, 'RS256'));
    const resigned = writeBundle(
      new Map([...files, ['.signatures.json', new TextEncoder().encode(JSON.stringify({ signatures: [jwt] }))]]),
    );
    const node = await LOADERS.node!(resigned, { verificationKey: rsa.publicKey });
    expect(node.decideSync(request)).toMatchObject({ allowed: true, rule: 0 });
    // The Web Crypto API has no MD5: the portable loader refuses rather than skip the file.
    expect(await refused(resigned, rsa.publicKey, LOADERS.portable)).toMatchObject({
      code: 'bundle_signature_invalid',
      message: 'unsupported hash algorithm "MD5"',
    });
  });

  it('signs and verifies with ES256 and HS256 too, and keeps the key id', async () => {
    const ec = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const es = await compilePolicy(
      production(),
      {},
      { signingKey: ec.privateKey, signingAlg: 'ES256', keyId: 'fleet-ec' },
    );
    await expect(
      WasmEngine.load(es.bundle, { verificationKey: ec.publicKey, keyId: 'fleet-ec' }),
    ).resolves.toBeInstanceOf(WasmEngine);
    expect(await refused(es.bundle, rsa.publicKey)).toMatchObject({ code: 'invalid_verification_key' });
    await expect(WasmEngine.load(es.bundle, { verificationKey: ec.publicKey, keyId: 'other' })).rejects.toMatchObject({
      code: 'bundle_signature_invalid',
    });
    const hs = await compilePolicy(production(), {}, { signingKey: 'fleet-secret', signingAlg: 'HS256' });
    await expect(WasmEngine.load(hs.bundle, { verificationKey: 'fleet-secret' })).resolves.toBeInstanceOf(WasmEngine);
    for (const [bundle, verificationKey] of [
      [es.bundle, ec.publicKey],
      [hs.bundle, 'fleet-secret'],
    ] as const) {
      await expect(PortableWasmEngine.load(bundle, undefined, { verificationKey })).resolves.toBeInstanceOf(
        PortableWasmEngine,
      );
      expect(await refused(bundle, rsa.publicKey, LOADERS.portable)).toBeInstanceOf(BundleError);
    }
    expect(await refused(hs.bundle, 'another-secret')).toMatchObject({ code: 'bundle_signature_invalid' });
    // An HMAC bundle checked against a public key is refused, not confused.
    expect(await refused(hs.bundle, rsa.publicKey)).toMatchObject({ code: 'bundle_signature_invalid' });
  });

  it("hashes structured files over OPA's canonical JSON", () => {
    expect(canonicalJson({ b: [1, 'x'], a: { d: null, c: true }, '\u2028<&>': '\n' })).toBe(
      '{"a":{"c":true,"d":null},"b":[1,"x"],"\\u2028<&>":"\\n"}',
    );
  });

  it('compile --signing-key signs, --opa-config prints the configuration, eval --verification-key refuses tampering', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-policy-sign-'));
    const keyFile = join(dir, 'key.pem');
    const pubFile = join(dir, 'pub.pem');
    writeFileSync(keyFile, rsa.privateKey);
    writeFileSync(pubFile, rsa.publicKey);
    const out = join(dir, 'bundles', 'prod');
    const compiled = await cli([
      'compile',
      productionFile,
      '-o',
      out,
      '--signing-key',
      keyFile,
      '--opa-config',
      'http://127.0.0.1:8282',
    ]);
    expect(compiled.code).toBe(0);
    expect(compiled.stdout).toBe(
      opaConfig({
        serviceUrl: 'http://127.0.0.1:8282',
        bundleName: 'prod',
        verificationKey: rsa.publicKey,
        minDelaySeconds: 10,
        maxDelaySeconds: 10,
      }),
    );
    expect(compiled.stdout).not.toContain('PRIVATE');
    const bundleFile = join(out, 'bundle.tar.gz');
    const ok = await cli(['eval', bundleFile, '--verification-key', pubFile], JSON.stringify(request));
    expect(ok).toMatchObject({ code: 0 });
    expect(JSON.parse(ok.stdout)).toMatchObject({ allowed: true, rule: 0 });
    for (const [name, bytes] of Object.entries(tamperings(new Uint8Array(readFileSync(bundleFile))))) {
      const file = join(dir, 'tampered.tar.gz');
      writeFileSync(file, bytes);
      const r = await cli(['eval', file, '--verification-key', pubFile], JSON.stringify(request));
      expect(r.code, name).toBe(2);
      expect(r.stdout, name).toBe('');
      expect(r.stderr, name).toMatch(/\(bundle_file_mismatch\)\n$/);
    }
    const policyWithKey = await cli(['eval', productionFile, '--verification-key', pubFile], '{}');
    expect(policyWithKey).toMatchObject({ code: 2 });
    expect(policyWithKey.stderr).toContain('(usage)');
  });
});
