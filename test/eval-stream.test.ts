/**
 * Streaming `eval`: JSON Lines decided in batches as they arrive, written in
 * order with back-pressure, in bounded memory; the same answers as reading
 * the whole input.
 */
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type Engine } from '../src/engines/engine.js';
import { NativeEngine } from '../src/engines/native.js';
import { decideStream, decisionLine, parseRequests } from '../src/engines/stream.js';
import { cli, mustParse, tempFile } from './helpers.js';

const policy = mustParse(
  JSON.stringify({
    version: 1,
    default: 'deny',
    rules: [
      { server: 'ok-*', allow: true },
      { tools: ['x'], allow: false },
    ],
  }),
);

/** An engine that records the size of every batch it is given. */
function recording(inner: Engine): { engine: Engine; batches: number[] } {
  const batches: number[] = [];
  return {
    batches,
    engine: {
      ...inner,
      name: inner.name,
      decide: (r) => inner.decide(r),
      decideBatch: (rs) => (batches.push(rs.length), inner.decideBatch(rs)),
      config: (l) => inner.config(l),
      close: () => inner.close(),
    },
  };
}

async function streamed(chunks: string[], batchSize?: number): Promise<string> {
  let out = '';
  await decideStream(
    new NativeEngine(policy),
    chunks,
    { write: (t) => void (out += t) },
    batchSize === undefined ? {} : { batchSize },
  );
  return out;
}

async function whole(text: string): Promise<string> {
  const engine = new NativeEngine(policy);
  return parseRequests(text)
    .map((e) =>
      decisionLine(
        'request' in e
          ? engine.decideSync(e.request)
          : { allowed: false, reason: 'invalid request', rule: null, error: e.error },
      ),
    )
    .map((l) => `${l}\n`)
    .join('');
}

describe('decideStream', () => {
  const lines = Array.from({ length: 250 }, (_, k) =>
    k % 17 === 5 ? '{not json' : k % 23 === 0 ? '' : JSON.stringify({ server: `ok-${k}`, tool: k % 3 ? 'x' : 'y' }),
  );
  const text = `${lines.join('\n')}\n`;

  it('answers as reading the whole input does, however the input is cut into chunks and batches', async () => {
    const expected = await whole(text);
    for (const [seed, batch] of [
      [1, 1],
      [2, 7],
      [3, 1000],
    ] as const) {
      let s = seed;
      const chunks: string[] = [];
      for (let at = 0; at < text.length;) {
        s = (s * 1103515245 + 12345) % 2 ** 31;
        const n = 1 + (s % 40);
        chunks.push(text.slice(at, at + n));
        at += n;
      }
      expect(await streamed(chunks, batch)).toBe(expected);
    }
  });

  it('reads one document over several lines whole, and answers nothing for blank input', async () => {
    const doc = '{\n  "server": "ok-1"\n}\n';
    expect(await streamed([doc])).toBe(await whole(doc));
    expect(await streamed([doc])).toBe(`${decisionLine({ allowed: true, reason: 'allowed by rule 0', rule: 0 })}\n`);
    expect(await streamed(['\n', '  \n'])).toBe('');
  });

  it('never holds more than one batch, and waits for the sink to drain', async () => {
    const { engine, batches } = recording(new NativeEngine(policy));
    async function* many(): AsyncGenerator<string> {
      for (let k = 0; k < 20_000; k++) yield `${JSON.stringify({ server: `ok-${k}` })}\n`;
    }
    let lines = 0;
    let drains = 0;
    const written = await decideStream(
      engine,
      many(),
      { write: (t) => ((lines += t.split('\n').length - 1), false), drain: () => (drains++, Promise.resolve()) },
      { batchSize: 500 },
    );
    expect(written).toBe(20_000);
    expect(lines).toBe(20_000);
    expect(Math.max(...batches)).toBe(500);
    expect(drains).toBe(40);
  });
});

describe('mcp-policy eval streams', () => {
  it('decides a 20,000-line requests file with the wasm engine, in order', async () => {
    const file = tempFile(
      'policy.json',
      JSON.stringify({ version: 1, default: 'deny', rules: [{ server: 'ok-*', allow: true }] }),
    );
    const requests = tempFile('requests.jsonl', '');
    writeFileSync(
      requests,
      Array.from({ length: 20_000 }, (_, k) => JSON.stringify({ server: k % 2 ? `ok-${k}` : `no-${k}` })).join('\n'),
    );
    const r = await cli(['eval', file, '--input', requests]);
    expect(r.code).toBe(0);
    const out = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => (JSON.parse(l) as { rule: number | null }).rule);
    expect(out).toEqual(Array.from({ length: 20_000 }, (_, k) => (k % 2 ? 0 : null)));
  });

  it('reports a requests file it cannot read with read_failed', async () => {
    const file = tempFile('policy2.json', JSON.stringify({ version: 1, default: 'deny', rules: [] }));
    const r = await cli(['eval', file, '--input', '/nonexistent/requests.jsonl']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot read /nonexistent/requests.jsonl');
  });
});
