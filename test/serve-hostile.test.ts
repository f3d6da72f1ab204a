/**
 * `serve` and `eval` under hostile load on a policy of 10,000 rules that no
 * index narrows: a batch costs no more per item than single decisions, work
 * per request is bounded by the policy's cost (coded 413 and 429), and other
 * clients keep being answered while a long batch is decided, with every
 * acknowledged decision in the log.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideStream } from '../src/engines/stream.js';
import { requestCost } from '../src/engines/wasm-cost.js';
import { WasmEngine } from '../src/engines/wasm.js';
import { type ServeHandle, startServe } from '../src/server/service.js';
import { EXAMPLES } from './helpers.js';
import { bundleOf, call, type Reply, spawnServe, type Target, tempDir } from './serve-helpers.js';

const PRODUCTION = join(EXAMPLES, 'production.json');

/**
 * A policy of `n` rules that every invoke request must check: tool patterns
 * of two-character pieces (`*01*23*`) give the index nothing, neither a
 * literal end nor a piece long enough for an n-gram.
 */
function unindexable(n: number): string {
  const two = (x: number) => String(x % 100).padStart(2, '0');
  const rules = Array.from({ length: n }, (_, k) => ({
    action: 'invoke',
    tools: [`*${two(Math.floor(k / 100))}*${two(k)}*`],
    deny: true,
  }));
  return JSON.stringify({ version: 1, default: 'allow', rules });
}

/** Matches no rule, so every rule is checked. */
const READ = { action: 'invoke', server: 'fs', tool: 'read_file' };
const ALLOWED = { allowed: true, reason: 'no rule matched; default allow' };

/** Polls a condition until it holds; fails after a deadline. */
async function waitFor(check: () => Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The work the service has admitted and not yet decided, from its /metrics text. */
async function workPending(target: Target): Promise<number> {
  const metrics = await call(target, 'GET', '/metrics');
  return Number(/^mcp_policy_work_pending (\S+)$/m.exec(metrics.text)?.[1] ?? -1);
}

function lines(path: string): Record<string, unknown>[] {
  return existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];
}

/** Counts the decisions a reply acknowledges: one per item of a 200 answer. */
function acknowledged(reply: Reply): number {
  if (reply.status !== 200) return 0;
  const json = reply.json() as { decisions?: unknown[]; result?: unknown };
  if (Array.isArray(json.decisions)) return json.decisions.length;
  if (Array.isArray(json.result)) return json.result.length;
  return 1;
}

let dir: string;
let bundle: string;
let small: Uint8Array;

beforeAll(async () => {
  dir = tempDir();
  bundle = join(dir, 'bundle.tar.gz');
  writeFileSync(bundle, await bundleOf(unindexable(10_000)));
  small = await bundleOf(unindexable(1_000));
}, 120_000);

describe('wasm batches', () => {
  it('cost no more WebAssembly memory per item than single decisions, in eval streams too', async () => {
    const engine = await WasmEngine.load(small);
    expect(engine.decideSync(READ)).toMatchObject(ALLOWED);
    const single = engine.memoryBytes;
    const batch = await engine.decideBatch(Array.from({ length: 20 }, () => READ));
    expect(batch).toHaveLength(20);
    for (const d of batch) expect(d).toMatchObject(ALLOWED);
    expect(engine.memoryBytes).toBe(single);
    const out: string[] = [];
    const lines = Array.from({ length: 30 }, () => `${JSON.stringify(READ)}\n`);
    expect(await decideStream(engine, lines, { write: (text) => void out.push(text) })).toBe(30);
    expect(out.join('').split('\n').filter(Boolean)).toHaveLength(30);
    expect(engine.memoryBytes).toBe(single);
  });

  it('are priced from the rule index: all the rules no lookup narrows, a handful for indexed ones', () => {
    const data = (rules: unknown[], always: number[], equals = {}) => ({
      mcp_policy: { lowered: { rules, index: { equals, prefix: {}, suffix: {}, always } } },
    });
    expect(requestCost(data(['a', 'b', 'c'], [0, 1, 2]))).toBe(13);
    expect(requestCost(data(['a', 'b', 'c'], [2], { server: { x: [0], y: [1] } }))).toBe(12);
    expect(requestCost(data(['a', 'b', 'c'], [], { source: { x: [0, 1] } }))).toBe(13);
    expect(requestCost({})).toBe(10);
  });
});

describe('serve on 10,000 unindexable rules', () => {
  let handle: ServeHandle | undefined;
  afterAll(() => handle?.close());

  it('refuses work past its bounds with coded 413 and 429, and answers others meanwhile', async () => {
    const per = 10 + 10_000;
    handle = await startServe({
      sources: { file: bundle },
      tcp: { host: '127.0.0.1', port: 0 },
      limits: { maxWork: 60 * per, maxPendingWork: 65 * per },
    });
    const target = { port: handle.port! };
    const batch = (n: number) => ({ requests: Array.from({ length: n }, () => READ) });

    const tooMuch = await call(target, 'POST', '/mcp/policy/evaluate/batch', batch(61));
    expect(tooMuch.status).toBe(413);
    expect(tooMuch.json()).toEqual({
      message: `batch of 61 requests needs about ${61 * per} rule checks on this policy; the limit is ${60 * per}`,
    });
    const opa = await call(target, 'POST', '/v1/data/mcp_policy/decisions', { input: batch(61) });
    expect(opa.status).toBe(413);
    expect(opa.json()).toMatchObject({ code: 'work_too_large' });

    let done = false;
    const long = call(target, 'POST', '/mcp/policy/evaluate/batch', batch(60)).finally(() => (done = true));
    await waitFor(async () => (await workPending(target)) > 0, 'the batch to be admitted');
    const busy = await call(target, 'POST', '/v1/data/mcp_policy/decisions', { input: batch(10) });
    expect(busy.status).toBe(429);
    expect(busy.headers['retry-after']).toBe('1');
    expect(busy.json()).toMatchObject({ code: 'server_busy' });
    // One request alone is always decided, and answered between the slices of the batch.
    expect((await call(target, 'POST', '/mcp/policy/evaluate', READ)).json()).toEqual(ALLOWED);
    expect(done).toBe(false);
    const reply = await long;
    expect(reply.status).toBe(200);
    expect((reply.json() as { decisions: unknown[] }).decisions).toEqual(Array.from({ length: 60 }, () => ALLOWED));
    expect(await workPending(target)).toBe(0);
  }, 120_000);

  it('prices long fields: one request with a long tool is refused on this policy, decided on a small one', async () => {
    const long = { ...READ, tool: 'y'.repeat(65_536) };
    const large = await startServe({ sources: { file: bundle }, tcp: { host: '127.0.0.1', port: 0 } });
    const small = await startServe({ sources: { file: PRODUCTION }, tcp: { host: '127.0.0.1', port: 0 } });
    try {
      const refused = await call({ port: large.port! }, 'POST', '/mcp/policy/evaluate', long);
      expect(refused.status).toBe(413);
      expect(refused.json()).toEqual({
        message: `request needs about ${(10 + 10_000) * 513} rule checks on this policy (its fields are long); the limit for one request is 50000`,
      });
      // Four short requests' worth is decided; five is past the bound for one request, in a batch too.
      const fine = await call({ port: large.port! }, 'POST', '/mcp/policy/evaluate', {
        ...READ,
        tool: 'y'.repeat(511),
      });
      expect(fine.json()).toEqual(ALLOWED);
      const batch = { requests: [READ, { ...READ, tool: 'y'.repeat(512) }] };
      const oneTooLong = await call({ port: large.port! }, 'POST', '/v1/data/mcp_policy/decisions', { input: batch });
      expect(oneTooLong.status).toBe(413);
      expect(oneTooLong.json()).toEqual({
        code: 'work_too_large',
        message: `request 1 of the batch needs about ${(10 + 10_000) * 5} rule checks on this policy (its fields are long); the limit for one request is 50000`,
      });
      const reply = await call({ port: small.port! }, 'POST', '/mcp/policy/evaluate', long);
      expect(reply.status).toBe(200);
      expect(reply.json()).toMatchObject({ allowed: false });
    } finally {
      await Promise.all([large.close(), small.close()]);
    }
  }, 120_000);

  it('keeps answering /ping while hostile bodies arrive, and logs every acknowledged decision', async () => {
    const log = join(dir, 'decisions.jsonl');
    const { child, exited, stderr } = await spawnServe([bundle, '--addr', '127.0.0.1:0', '--decision-log', log]);
    const target = { port: Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr())?.[1]) };
    let decisions = 0;

    // Huge: the most requests a batch may hold, each checking every rule.
    const huge = await call(target, 'POST', '/mcp/policy/evaluate/batch', {
      requests: Array.from({ length: 10_000 }, () => READ),
    });
    expect(huge.status).toBe(413);
    expect(huge.text).toMatch(/rule checks on this policy/);

    // Long: just under the default bound, decided in slices while another client pings.
    let done = false;
    const long = call(target, 'POST', '/mcp/policy/evaluate/batch', {
      requests: Array.from({ length: 99 }, () => READ),
    }).finally(() => (done = true));
    await waitFor(async () => (await workPending(target)) > 0, 'the long batch to be admitted');
    expect(await call(target, 'GET', '/ping')).toMatchObject({ status: 200, text: '{}' });
    expect((await call(target, 'GET', '/health')).status).toBe(200);
    expect(await workPending(target)).toBeGreaterThan(0);
    expect(done).toBe(false);

    // Deep and wide bodies, while the batch is still being decided.
    const deep = `{"action":"invoke","tool":"x","deep":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    const deepReply = await call(target, 'POST', '/mcp/policy/evaluate', deep);
    expect(deepReply.status).toBe(200);
    expect(deepReply.json()).toMatchObject({ allowed: false, error: expect.stringMatching(/deeper than 32/) });
    decisions += acknowledged(deepReply);
    const wide = Object.fromEntries(Array.from({ length: 100_000 }, (_, k) => [k.toString(36), 0]));
    const wideReply = await call(target, 'POST', '/mcp/policy/evaluate', { ...wide, ...READ });
    expect(wideReply.status).toBe(200);
    expect(wideReply.json()).toEqual(ALLOWED);
    decisions += acknowledged(wideReply);

    const longReply = await long;
    expect(longReply.status).toBe(200);
    decisions += acknowledged(longReply);
    expect(decisions).toBe(101);
    expect((await call(target, 'GET', '/ping')).status).toBe(200);

    child.kill('SIGTERM');
    expect(await exited, stderr()).toBe(0);
    expect(lines(log).filter((r) => r.kind === 'decision')).toHaveLength(decisions);
  }, 300_000);
});
