/** The bundle service: ETag = revision, 304, content type, readiness, atomic replacement picked up. */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeOutput } from '../src/pipeline/build.js';
import { type BundleService, parseAddr, startBundleService } from '../src/fleet/bundle-service.js';
import { tamperings } from './fleet-helpers.js';
import { compiledFor, examplePolicies, mustParse, ROOT } from './helpers.js';

const example = (name: string) =>
  mustParse(readFileSync(examplePolicies().find((e) => e.name === name)!.policyFile, 'utf8'));

describe('bundle service', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-policy-served-'));
  let service: BundleService | undefined;
  afterAll(async () => service?.close());

  it('serves compiled bundles with the revision as ETag, 304 on If-None-Match, and readiness', async () => {
    const a = await compiledFor(example('production'));
    await writeOutput(a, join(dir, 'prod'));
    writeFileSync(join(dir, 'flat.tar.gz'), a.bundle);
    service = await startBundleService({ dir, port: 0 });
    expect(service.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const health = await fetch(`${service.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', bundles: ['flat', 'prod'] });

    const res = await fetch(`${service.url}/bundles/prod.tar.gz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/gzip');
    expect(res.headers.get('etag')).toBe(`"${a.revision}"`);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(a.bundle);

    const again = await fetch(`${service.url}/bundles/prod.tar.gz`, {
      headers: { 'if-none-match': `"${a.revision}"` },
    });
    expect(again.status).toBe(304);
    expect((await again.arrayBuffer()).byteLength).toBe(0);
    const flat = await fetch(`${service.url}/bundles/flat.tar.gz`, { method: 'HEAD' });
    expect([flat.status, flat.headers.get('etag')]).toEqual([200, `"${a.revision}"`]);
  });

  it('picks up a bundle replaced by compile -o at once, and never hides a changed file behind a 304', async () => {
    const b = await compiledFor(example('block-tools'));
    const a = await compiledFor(example('production'));
    await writeOutput(b, join(dir, 'prod'));
    const res = await fetch(`${service!.url}/bundles/prod.tar.gz`, { headers: { 'if-none-match': `"${a.revision}"` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe(`"${b.revision}"`);
    // A file whose content does not match its revision gets a byte-hash ETag, so clients fetch it (and refuse it).
    writeFileSync(join(dir, 'flat.tar.gz'), tamperings(a.bundle)['one byte changed in policy.wasm']!);
    const bad = await fetch(`${service!.url}/bundles/flat.tar.gz`, { headers: { 'if-none-match': `"${a.revision}"` } });
    expect(bad.status).toBe(200);
    expect(bad.headers.get('etag')).toMatch(/^"sha256-[0-9a-f]{64}"$/);
  });

  it('answers 404 for unknown or unsafe names and 405 for other methods', async () => {
    for (const path of ['/bundles/none.tar.gz', '/bundles/..%2Fprod.tar.gz', '/bundles/.hidden.tar.gz', '/other']) {
      const res = await fetch(`${service!.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.json()).toMatchObject({ code: 'not_found' });
    }
    const post = await fetch(`${service!.url}/bundles/prod.tar.gz`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('serves only regular files inside its folder: no symbolic link, in or out, and no FIFO', async () => {
    // A valid bundle outside the folder, which a link would otherwise expose.
    const outside = mkdtempSync(join(tmpdir(), 'mcp-policy-outside-'));
    const secret = await compiledFor(example('block-server'));
    writeFileSync(join(outside, 'secret.tar.gz'), secret.bundle);
    mkdirSync(join(outside, 'out'));
    writeFileSync(join(outside, 'out', 'bundle.tar.gz'), secret.bundle);
    symlinkSync(join(outside, 'secret.tar.gz'), join(dir, 'link.tar.gz'));
    symlinkSync(join(dir, 'flat.tar.gz'), join(dir, 'alias.tar.gz'));
    symlinkSync(join(outside, 'out'), join(dir, 'linkdir'));
    mkdirSync(join(dir, 'inner'));
    symlinkSync(join(outside, 'secret.tar.gz'), join(dir, 'inner', 'bundle.tar.gz'));
    execFileSync('mkfifo', [join(dir, 'pipe.tar.gz')]);
    for (const name of ['link', 'alias', 'linkdir', 'inner', 'pipe']) {
      for (const method of ['GET', 'HEAD']) {
        const res = await fetch(`${service!.url}/bundles/${name}.tar.gz`, { method });
        expect(res.status, `${method} ${name}`).toBe(404);
        if (method === 'GET') expect(await res.json()).toMatchObject({ code: 'not_found' });
      }
    }
    const health = await fetch(`${service!.url}/health`);
    expect(await health.json()).toEqual({ status: 'ok', bundles: ['flat', 'prod'] });
    expect((await fetch(`${service!.url}/bundles/flat.tar.gz`)).status).toBe(200);
  });

  it('answers malformed percent-encoding with 400, and keeps serving', async () => {
    for (const path of ['/bundles/%ff%fe.tar.gz', '/bundles/%E0%A4%A.tar.gz', '/bundles/%.tar.gz']) {
      const res = await fetch(`${service!.url}${path}`);
      expect(res.status, path).toBe(400);
      const body = (await res.json()) as { code: string; message: string };
      expect(body.code).toBe('bad_request');
      expect(body.message).toMatch(/^[a-z].*percent-encoding/);
    }
    expect((await fetch(`${service!.url}/bundles/prod.tar.gz`)).status).toBe(200);
  });

  it('parses addresses and refuses a folder it cannot read', async () => {
    expect(parseAddr('127.0.0.1:9000')).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(parseAddr('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseAddr(':7')).toEqual({ host: '127.0.0.1', port: 7 });
    expect(() => parseAddr('a:b:c')).toThrow(expect.objectContaining({ code: 'usage' }) as Error);
    await expect(startBundleService({ dir: join(dir, 'missing'), port: 0 })).rejects.toMatchObject({
      code: 'read_failed',
    });
  });

  it('runs as `mcp-policy bundles serve`, prints its address, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [
      join(ROOT, 'bin', 'mcp-policy.js'),
      'bundles',
      'serve',
      dir,
      '--addr',
      '127.0.0.1:0',
    ]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((ok) => child.once('exit', ok));
    for (let t = 0; t < 200 && !out.includes('\n'); t++) await new Promise((ok) => setTimeout(ok, 25));
    const url = /at (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1];
    expect(url, out).toBeDefined();
    expect((await fetch(`${url}/health`)).status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
