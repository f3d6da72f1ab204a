/**
 * The browser entry (`mcp-policy/wasm`) in a real headless browser: Debian's
 * chromium, installed by scripts/setup-browser.sh when missing, driven by
 * playwright-core. The example page loads a compiled bundle and decides each
 * request of an example table; its decisions must equal the Node engine's.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCaseFile } from '../src/testing/cases.js';
import { compilePolicy } from '../src/pipeline/build.js';
import { WasmEngine } from '../src/engines/wasm.js';
import { PortableWasmEngine } from '../src/edge/index.js';
import { EXAMPLES, mustParse, ROOT } from './helpers.js';
import { rsaKeyPair, tampered, tamperings } from './fleet-helpers.js';
import { tempDir } from './proxy/helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.gz': 'application/gzip',
};
/** What the page may fetch: the example, the built library and the SDK's browser build. */
const SERVED = [
  'examples/browser/',
  'dist/src/',
  'node_modules/@open-policy-agent/opa-wasm/dist/',
  'node_modules/jose/dist/webapi/',
];

let server: Server;
let base: string;
let context: BrowserContext;
let bundle: Uint8Array;
/** What the page's bundle URL serves: the compiled bundle unless a test swaps in another. */
let served: Uint8Array | undefined;
const requests = parseCaseFile(
  readFileSync(join(EXAMPLES, 'production.cases.json'), 'utf8'),
  'production.cases.json',
).requests!.map((c) => c.request);

beforeAll(async () => {
  execFileSync('bash', [join(ROOT, 'scripts', 'setup-browser.sh')], { stdio: 'inherit' });
  bundle = (await compilePolicy(mustParse(readFileSync(join(EXAMPLES, 'production.json'), 'utf8')))).bundle;
  server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^[/\\]+/, '');
    if (path === 'examples/browser/policy/bundle.tar.gz') {
      res.writeHead(200, { 'content-type': TYPES['.gz'] });
      return res.end(served ?? bundle);
    }
    const file = path.endsWith('/') || path === 'examples/browser' ? join(path, 'index.html') : path;
    if (file.split(sep).includes('..') || !SERVED.some((p) => file.startsWith(p))) {
      res.writeHead(404);
      return res.end();
    }
    readFile(join(ROOT, file)).then(
      (body) => {
        res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
        res.end(body);
      },
      () => {
        res.writeHead(404);
        res.end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  context = await chromium.launchPersistentContext(tempDir('mcp-policy-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
  });
});

afterAll(async () => {
  await context?.close();
  await new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
});

describe('the example page in chromium', () => {
  it('decides the example table exactly as the Node wasm engine does', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/examples/browser/`);
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.textContent('#status')).toMatch(/^loaded policy\/bundle\.tar\.gz \(revision [0-9a-f]+\)$/);
    const inBrowser: unknown[] = [];
    for (const request of requests) {
      await page.fill('#raw', JSON.stringify(request));
      await page.click('#decide');
      inBrowser.push(JSON.parse((await page.textContent('#decision')) ?? 'null'));
      await page.$eval('#decision', (el) => {
        el.textContent = '';
      });
    }
    const node = await WasmEngine.load(bundle);
    expect(inBrowser).toEqual(await node.decideBatch(requests));
    expect(errors).toEqual([]);
    await page.close();
  });

  it('decides a request typed into the form fields', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/examples/browser/`);
    await page.waitForSelector('body[data-ready="true"]');
    await page.selectOption('#action', 'invoke');
    await page.fill('#server', 'github');
    await page.fill('#tool', 'delete_repository');
    await page.click('#decide');
    const decision = JSON.parse((await page.textContent('#decision')) ?? 'null') as unknown;
    expect(decision).toEqual(
      (await WasmEngine.load(bundle)).decideSync({ action: 'invoke', server: 'github', tool: 'delete_repository' }),
    );
    expect(decision).toMatchObject({
      allowed: false,
      reason: 'Block destructive operations across all servers',
      rule: 2,
    });
    await page.close();
  });
});

describe('the example page refuses a tampered bundle', () => {
  it('whose data.json no longer hashes to its revision, with bundle_revision_mismatch', async () => {
    served = tampered(bundle, (f) => f.set('data.json', new TextEncoder().encode('{"mcp_policy":{"lowered":{}}}')));
    try {
      const page = await context.newPage();
      await page.goto(`${base}/examples/browser/`);
      // The page marks itself ready once its first load has finished, failed or not.
      await page.waitForSelector('body[data-ready="true"]');
      expect(await page.textContent('#status')).toMatch(
        /^cannot load policy\/bundle\.tar\.gz: bundle content does not match its revision .* \(bundle_revision_mismatch\)$/,
      );
      await page.close();
    } finally {
      served = undefined;
    }
  });
});

describe('the portable entry in chromium verifies signatures', () => {
  it('loads a signed bundle with its key and refuses a wrong key, a changed file and an unsigned bundle', async () => {
    const keys = rsaKeyPair();
    const signed = (
      await compilePolicy(
        mustParse(readFileSync(join(EXAMPLES, 'production.json'), 'utf8')),
        {},
        {
          signingKey: keys.privateKey,
        },
      )
    ).bundle;
    const page = await context.newPage();
    await page.goto(`${base}/examples/browser/`);
    await page.waitForSelector('body[data-ready="true"]');
    /** What the page's engine makes of the served bundle with `key`: a decision, or the refusal's code and path. */
    // A script as text: the test runner rewrites import() in functions it compiles, which the page lacks.
    const loadInPage = (key: string) =>
      page.evaluate(`(async () => {
        const { PortableWasmEngine } = await import('mcp-policy/wasm');
        try {
          const engine = await PortableWasmEngine.load(await fetch('policy/bundle.tar.gz'), undefined, {
            verificationKey: ${JSON.stringify(key)},
          });
          return { decision: engine.decideSync(${JSON.stringify(requests[0])}) };
        } catch (e) {
          return { code: e.code, path: e.path };
        }
      })()`);
    try {
      served = signed;
      expect(await loadInPage(keys.publicKey)).toEqual({
        decision: (await WasmEngine.load(signed)).decideSync(requests[0]),
      });
      expect(await loadInPage(rsaKeyPair().publicKey)).toMatchObject({ code: 'bundle_signature_invalid' });
      served = tamperings(signed)['one byte changed in policy.wasm'];
      expect(await loadInPage(keys.publicKey)).toEqual({ code: 'bundle_file_mismatch', path: '/policy.wasm' });
      served = bundle;
      expect(await loadInPage(keys.publicKey)).toEqual({ code: 'bundle_unsigned', path: '/.signatures.json' });
    } finally {
      served = undefined;
      await page.close();
    }
  });
});

describe('the portable entry in Node', () => {
  it('loads the same bundle and agrees with the Node wasm engine', async () => {
    const portable = await PortableWasmEngine.load(bundle);
    expect(portable.revision).toMatch(/^[0-9a-f]+$/);
    expect(await portable.decideBatch(requests)).toEqual(await (await WasmEngine.load(bundle)).decideBatch(requests));
  });

  it('checks the revision as the Node engine does: a swapped data.json is bundle_revision_mismatch', async () => {
    const swapped = tampered(bundle, (f) => f.set('data.json', new TextEncoder().encode('{}')));
    const node = await WasmEngine.load(swapped).catch((e: unknown) => e);
    const portable = await PortableWasmEngine.load(swapped).catch((e: unknown) => e);
    expect(node).toMatchObject({ code: 'bundle_revision_mismatch', path: '/.manifest/revision' });
    expect(portable).toMatchObject({ code: 'bundle_revision_mismatch', path: '/.manifest/revision' });
    expect((portable as Error).message).toBe((node as Error).message);
    // Repacked unchanged, it loads: the revision names the content, not the archive bytes.
    expect((await PortableWasmEngine.load(tampered(bundle, () => undefined))).revision).toBe(
      (await WasmEngine.load(bundle)).revision,
    );
  });

  it('refuses a truncated bundle and a gzip bomb with invalid_bundle', async () => {
    await expect(PortableWasmEngine.load(bundle.subarray(0, 40))).rejects.toMatchObject({ code: 'invalid_bundle' });
    const { gunzip } = await import('../src/edge/gunzip.js');
    const { gzipSync } = await import('node:zlib');
    await expect(gunzip(gzipSync(new Uint8Array(2 * 1024 * 1024)), 1024 * 1024)).rejects.toMatchObject({
      code: 'invalid_bundle',
      message: 'invalid bundle: it inflates past 1048576 bytes',
    });
  });

  it('imports no Node built-in anywhere in its module graph', () => {
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g)) {
        const spec = m[1]!;
        expect(spec, `${file} imports ${spec}`).not.toMatch(/^node:|^(fs|path|zlib|os|crypto|child_process|url|util)$/);
        if (spec.startsWith('.')) visit(join(file, '..', spec));
      }
    };
    visit(join(ROOT, 'dist', 'src', 'edge', 'index.js'));
    expect(seen.size).toBeGreaterThan(3);
  });
});
