/** Helpers of the fleet tests: tampered bundles, key pairs, OPA servers on loopback. */
import { generateKeyPairSync } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { readBundleFiles } from '../src/bundle.js';

/** A fresh RSA key pair as PEM text. */
export function rsaKeyPair(): { privateKey: string; publicKey: string } {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
}

function header(name: string, size: number): Uint8Array {
  const h = new Uint8Array(512);
  const put = (text: string, offset: number) => h.set(new TextEncoder().encode(text), offset);
  put(name, 0);
  put('0000600\0', 100);
  put('0000000\0', 108);
  put('0000000\0', 116);
  put(`${size.toString(8).padStart(11, '0')}\0`, 124);
  put('00000000000\0', 136);
  put('        ', 148);
  put('0', 156);
  put('ustar\0', 257);
  put('00', 263);
  const sum = h.reduce((a, b) => a + b, 0);
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

/** Packs files (path → bytes) into a bundle.tar.gz, with the leading `/` opa writes. */
export function packBundle(files: ReadonlyMap<string, Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, body] of files) {
    parts.push(header(`/${name}`, body.length), body, new Uint8Array((512 - (body.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  return gzipSync(Buffer.concat(parts));
}

/** A bundle rewritten by `change`, which edits its file map. */
export function tampered(bundle: Uint8Array, change: (files: Map<string, Uint8Array>) => void): Uint8Array {
  const files = new Map([...readBundleFiles(bundle)].map(([k, v]) => [k, new Uint8Array(v)]));
  change(files);
  return packBundle(files);
}

/** The tampering cases every loader and OPA must refuse, by name. */
export function tamperings(signed: Uint8Array): Record<string, Uint8Array> {
  return {
    'one byte changed in policy.wasm': tampered(signed, (f) => {
      const wasm = f.get('policy.wasm')!;
      wasm[wasm.length - 10] ^= 0x01;
    }),
    'a file added': tampered(signed, (f) => f.set('extra/data.json', new TextEncoder().encode('{"x": 1}'))),
    'a file removed': tampered(signed, (f) => f.delete('mcp_policy/lib.rego')),
  };
}
