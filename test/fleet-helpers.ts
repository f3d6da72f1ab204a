/** Helpers of the fleet tests: tampered bundles, key pairs, OPA servers on loopback. */
import { generateKeyPairSync } from 'node:crypto';
import { readBundleFiles, writeBundle } from '../src/bundle.js';

/** A fresh RSA key pair as PEM text. */
export function rsaKeyPair(): { privateKey: string; publicKey: string } {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
}

/** A bundle rewritten by `change`, which edits its file map. */
export function tampered(bundle: Uint8Array, change: (files: Map<string, Uint8Array>) => void): Uint8Array {
  const files = new Map([...readBundleFiles(bundle)].map(([k, v]) => [k, new Uint8Array(v)]));
  change(files);
  return writeBundle(files);
}

/** The tampering cases every loader and OPA must refuse, by name. */
export function tamperings(signed: Uint8Array): Record<string, Uint8Array> {
  return {
    'one byte changed in policy.wasm': tampered(signed, (f) => {
      const wasm = f.get('policy.wasm')!;
      wasm[wasm.length - 10] = wasm[wasm.length - 10]! ^ 0x01;
    }),
    'a file added': tampered(signed, (f) => f.set('extra/data.json', new TextEncoder().encode('{"x": 1}'))),
    'a file removed': tampered(signed, (f) => f.delete('mcp_policy/lib.rego')),
  };
}
