/**
 * Loading untrusted bundles: every malformed part is a coded, located error,
 * decompression is bounded, and a revision in mcp-policy's form is checked
 * against the content it names.
 */
import { createGzip, gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BundleError, DEFAULT_MAX_BUNDLE_BYTES, readWasmBundle, writeBundle } from '../src/bundle/read.js';
import { WasmEngine } from '../src/engines/wasm.js';
import { tampered } from './fleet-helpers.js';
import { compiledFor, examplePolicies, mustParse } from './helpers.js';

const example = (name: string) =>
  mustParse(readFileSync(examplePolicies().find((e) => e.name === name)!.policyFile, 'utf8'));
const text = (s: string) => new TextEncoder().encode(s);

/** A gzip stream of `bytes` zeros, produced in chunks so the test never holds them. */
async function gzipBomb(bytes: number): Promise<Uint8Array> {
  const gz = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gz.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((ok) => gz.on('end', ok));
  const chunk = Buffer.alloc(1 << 20);
  for (let left = bytes; left > 0; left -= chunk.length) {
    if (!gz.write(left >= chunk.length ? chunk : chunk.subarray(0, left)))
      await new Promise((ok) => gz.once('drain', ok));
  }
  gz.end();
  await done;
  return Buffer.concat(out);
}

async function refusal(bytes: Uint8Array): Promise<BundleError> {
  const e: unknown = await WasmEngine.load(bytes).then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(BundleError);
  return e as BundleError;
}

describe('bundle loading', () => {
  it('reports a .manifest of null, or with a non-string module, as invalid_manifest at its location', async () => {
    const { bundle } = await compiledFor(example('production'));
    const nullManifest = tampered(bundle, (f) => f.set('.manifest', text('null')));
    expect(await refusal(nullManifest)).toMatchObject({ code: 'invalid_manifest', path: '/.manifest' });
    const oddModule = tampered(bundle, (f) =>
      f.set('.manifest', text('{"wasm": [{"entrypoint": "mcp_policy/decision", "module": 7}]}')),
    );
    expect(await refusal(oddModule)).toMatchObject({ code: 'invalid_manifest', path: '/.manifest/wasm/0/module' });
    const notJson = tampered(bundle, (f) => f.set('.manifest', text('{"revision": ')));
    expect(await refusal(notJson)).toMatchObject({ code: 'invalid_manifest', path: '/.manifest' });
    const numberRevision = tampered(bundle, (f) => f.set('.manifest', text('{"revision": 5}')));
    expect(await refusal(numberRevision)).toMatchObject({ code: 'invalid_manifest', path: '/.manifest/revision' });
  });

  it('reports a bundle cut anywhere as bundle_truncated, not as bad JSON', async () => {
    const { bundle } = await compiledFor(example('production'));
    for (const cut of [20, bundle.length / 3, bundle.length - 9]) {
      expect((await refusal(bundle.slice(0, Math.floor(cut)))).code).toBe('bundle_truncated');
    }
    // A cut at a tar block boundary inside an intact gzip stream: no end-of-archive marker.
    const tar = gunzipSync(bundle);
    const { gzipSync } = await import('node:zlib');
    expect((await refusal(gzipSync(tar.subarray(0, 1024)))).code).toBe('bundle_truncated');
  });

  it('stops decompressing at the limit: a gzip bomb is bundle_too_large, with the default bound too', async () => {
    const bomb = await gzipBomb(64 * 2 ** 20);
    expect(bomb.length).toBeLessThan(128 * 1024);
    const small = await WasmEngine.load(bomb, { maxBytes: 16 * 2 ** 20 }).catch((e: unknown) => e);
    expect(small).toMatchObject({ code: 'bundle_too_large' });
    const big = await gzipBomb(DEFAULT_MAX_BUNDLE_BYTES + 2 ** 20);
    expect(() => readWasmBundle(big)).toThrow(expect.objectContaining({ code: 'bundle_too_large' }) as Error);
  });

  it('refuses a bundle whose rules (data.json) come from another policy, by its revision', async () => {
    const a = await compiledFor(example('production'));
    const b = await compiledFor(example('block-tools'));
    // The module is the same for every policy; the rules are data, so that is what another policy swaps in.
    expect(readWasmBundle(b.bundle).files.get('data.json')).not.toEqual(
      readWasmBundle(a.bundle).files.get('data.json'),
    );
    const swapped = tampered(a.bundle, (f) => f.set('data.json', readWasmBundle(b.bundle).files.get('data.json')!));
    const e = await refusal(swapped);
    expect(e).toMatchObject({ code: 'bundle_revision_mismatch', path: '/.manifest/revision' });
    expect(e.message).toContain(a.revision);
    // Repacking the same files is fine: the revision names the content, not the archive bytes.
    const repacked = tampered(a.bundle, () => undefined);
    expect((await WasmEngine.load(repacked)).revision).toBe(a.revision);
  });

  it('reports a file listed twice and a bundle without policy.wasm with codes', async () => {
    const { bundle } = await compiledFor(example('production'));
    const noWasm = tampered(bundle, (f) => {
      f.delete('policy.wasm');
      f.set('.manifest', text('{}'));
    });
    expect(await refusal(noWasm)).toMatchObject({ code: 'invalid_bundle', path: '/policy.wasm' });
    expect(await refusal(writeBundle(new Map()))).toMatchObject({ code: 'invalid_bundle' });
  });
});
