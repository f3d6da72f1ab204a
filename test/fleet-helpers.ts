/** Helpers of the fleet tests: tampered bundles, key pairs, OPA servers on loopback. */
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { readBundleFiles, writeBundle } from '../src/bundle/read.js';
import { type OpaDecisionEvent } from '../src/fleet/opa-upload.js';

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

/** A decision-log collector on loopback: what it received, decoded, and a switch to fail the next uploads. */
export interface Collector {
  url: string;
  batches: OpaDecisionEvent[][];
  headers: Record<string, string | string[] | undefined>[];
  failNext: number;
  server: Server;
}

/** Starts a {@link Collector} that answers 204, or 503 while `failNext` > 0. */
export async function collector(): Promise<Collector> {
  const c = { batches: [], headers: [], failNext: 0 } as unknown as Collector;
  c.server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      if (c.failNext > 0) {
        c.failNext--;
        res.writeHead(503).end();
        return;
      }
      c.headers.push({ ...req.headers, path: req.url, method: req.method });
      c.batches.push(JSON.parse(gunzipSync(Buffer.concat(chunks)).toString('utf8')) as OpaDecisionEvent[]);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((ok) => c.server.listen(0, '127.0.0.1', ok));
  c.url = `http://127.0.0.1:${(c.server.address() as AddressInfo).port}`;
  return c;
}
