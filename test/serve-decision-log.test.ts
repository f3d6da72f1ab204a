/** The decision log: rotation, counted drops on a full queue or a failing disk, and nothing lost that was queued. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JsonlFileSink } from '../src/server/decision-log.js';
import { startServe } from '../src/server/service.js';
import { cli, EXAMPLES, tempFile } from './helpers.js';
import { call, tempDir } from './serve-helpers.js';

function lines(path: string): string[] {
  return existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : [];
}

describe('JSON Lines file sink', () => {
  it('rotates by size and keeps every entry across the live and rotated files', async () => {
    const path = join(tempDir(), 'log', 'decisions.jsonl');
    const sink = new JsonlFileSink(path, { maxBytes: 2_000, keep: 50 });
    for (let k = 0; k < 60; k++) {
      sink.write({ k, pad: 'x'.repeat(700) });
      // One entry per write, so each rotation point is known.
      while (sink.stats().written <= k) await new Promise((r) => setTimeout(r, 2));
    }
    await sink.close();
    const files = [path, ...Array.from({ length: 50 }, (_, k) => `${path}.${k + 1}`)].filter(existsSync);
    expect(files.length).toBe(30);
    const all = files.flatMap(lines).map((l) => (JSON.parse(l) as { k: number }).k);
    expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, k) => k));
    expect(sink.stats()).toEqual({ written: 60, dropped: { queue_full: 0, write_failed: 0, closed: 0 } });
  });

  it('drops and counts entries beyond a full queue instead of waiting', async () => {
    const path = join(tempDir(), 'decisions.jsonl');
    const counted: number[] = [];
    const sink = new JsonlFileSink(path, { maxQueue: 10, onDrop: (_r, n) => counted.push(n) });
    for (let k = 0; k < 25; k++) sink.write({ k });
    await sink.close();
    sink.write({ late: true });
    expect(sink.stats().dropped).toEqual({ queue_full: 15, write_failed: 0, closed: 1 });
    expect(counted.reduce((a, b) => a + b, 0)).toBe(16);
    expect(lines(path)).toHaveLength(10);
  });

  it('turns a full disk or an unwritable path into counted drops, never an error', async () => {
    const errors: string[] = [];
    const full = new JsonlFileSink('/dev/full', { onError: (e) => errors.push(e.message) });
    full.write({ a: 1 });
    await new Promise((r) => setTimeout(r, 50));
    full.write({ a: 2 });
    await full.close();
    expect(full.stats()).toMatchObject({ written: 0, dropped: { write_failed: 2 } });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/ENOSPC/);
    const blocked = new JsonlFileSink(join('/dev/null', 'x', 'log.jsonl'));
    blocked.write({ a: 1 });
    await blocked.close();
    expect(blocked.stats()).toMatchObject({ written: 0, dropped: { write_failed: 1 } });
  });
});

describe('decision log in the service', () => {
  it('keeps deciding when the log cannot be written, and counts the drops', async () => {
    const handle = await startServe({
      sources: { file: join(EXAMPLES, 'production.json') },
      tcp: { host: '127.0.0.1', port: 0 },
      decisionLog: '/dev/full',
    });
    try {
      const target = { port: handle.port! };
      for (let k = 0; k < 5; k++) {
        const reply = await call(target, 'POST', '/mcp/policy/evaluate', { action: 'invoke', tool: 'delete_x' });
        expect(reply.status).toBe(200);
        expect((reply.json() as { allowed: boolean }).allowed).toBe(false);
        await new Promise((r) => setTimeout(r, 20));
      }
      // The log is written after the replies; wait for the last batch to fail.
      let text = '';
      for (let k = 0; k < 100 && !/write_failed"\} 5$/m.test(text); k++) {
        await new Promise((r) => setTimeout(r, 50));
        text = (await call(target, 'GET', '/metrics')).text;
      }
      expect(text).toMatch(/^mcp_policy_decision_log_dropped_total\{reason="write_failed"\} 5$/m);
      expect(text).toMatch(/^mcp_policy_decision_log_written_total 0$/m);
    } finally {
      await handle.close();
    }
  });
});

describe('compile --cases', () => {
  it('embeds request tables and refuses a table that carries its own policy', async () => {
    const out = join(tempDir(), 'out');
    const ok = await cli([
      'compile',
      join(EXAMPLES, 'production.json'),
      '-o',
      out,
      '--cases',
      join(EXAMPLES, 'production.cases.json'),
    ]);
    expect(ok.code).toBe(0);
    const handle = await startServe({
      sources: { file: join(out, 'bundle.tar.gz') },
      tcp: { host: '127.0.0.1', port: 0 },
    });
    const cases = JSON.parse(readFileSync(join(EXAMPLES, 'production.cases.json'), 'utf8')) as { requests: unknown[] };
    expect(handle.slot.current?.selfTestCases).toBe(cases.requests.length);
    await handle.close();
    const own = tempFile('own.cases.json', JSON.stringify({ policy: { default: 'allow', rules: [] }, requests: [] }));
    const refused = await cli([
      'compile',
      join(EXAMPLES, 'production.json'),
      '-o',
      join(tempDir(), 'o'),
      '--cases',
      own,
    ]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/own\.cases\.json: a self-test table holds only "requests".*\(invalid_cases\)/);
  });
});
