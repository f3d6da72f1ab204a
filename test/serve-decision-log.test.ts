/**
 * Decision logs: the file, stream and fan-out sinks (rotation, counted drops,
 * bounded close), owner-only regular files for serve and the proxy, and serve
 * surviving hostile requests with every acknowledged decision logged.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { NativeEngine } from '../src/engines/native.js';
import {
  decisionRecord,
  FanoutSink,
  JsonlFileSink,
  JsonlStreamSink,
  type LogRecord,
} from '../src/host/decision-log.js';
import { loadPolicyFile } from '../src/policy/file.js';
import { type Decision } from '../src/policy/model.js';
import { startProxy } from '../src/proxy/proxy.js';
import { startServe } from '../src/server/service.js';
import { cli, EXAMPLES, tempFile } from './helpers.js';
import { bundleOf, call, spawnServe, tempDir } from './serve-helpers.js';

const PRODUCTION = join(EXAMPLES, 'production.json');
const DELETE = { server: 'fs', action: 'invoke', tool: 'delete_file' };
const DENIED = { allowed: false, reason: 'Block destructive operations across all servers' };

function lines(path: string): string[] {
  return existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : [];
}

const YES: Decision = { allowed: true, reason: 'ok', rule: 0 };

function record(request: Record<string, unknown>): LogRecord {
  return decisionRecord({ endpoint: '/mcp/policy/evaluate', revision: 'r', request, decision: YES });
}

/** A stream that takes every write and never reports it done: a pipe nobody reads. */
function stuckStream(): Writable {
  return new Writable({ highWaterMark: 1, write: () => undefined });
}

/** A stream whose every write fails, as a full disk or a closed pipe does. */
function failingStream(): Writable {
  return new Writable({ write: (_chunk, _enc, done) => done(new Error('EPIPE: nobody reads')) });
}

describe('JSON Lines file sink', () => {
  it('rotates by size and keeps every record across the live and rotated files', async () => {
    const path = join(tempDir(), 'log', 'decisions.jsonl');
    const sink = await JsonlFileSink.open(path, { maxBytes: 2_000, keep: 50 });
    for (let k = 0; k < 60; k++) {
      sink.write(record({ k, pad: 'x'.repeat(700) }));
      // One record per write, so each rotation point is known.
      while (sink.stats().written <= k) await new Promise((r) => setTimeout(r, 2));
    }
    await sink.close();
    const files = [path, ...Array.from({ length: 50 }, (_, k) => `${path}.${k + 1}`)].filter(existsSync);
    expect(files.length).toBe(30);
    for (const f of files) expect(statSync(f).mode & 0o777).toBe(0o600);
    const all = files.flatMap(lines).map((l) => (JSON.parse(l) as { request: { k: number } }).request.k);
    expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, k) => k));
    expect(sink.stats()).toEqual({
      written: 60,
      dropped: { queue_full: 0, unserialisable: 0, write_failed: 0, closed: 0 },
    });
  });

  it('drops and counts records beyond a full queue instead of waiting', async () => {
    const path = join(tempDir(), 'decisions.jsonl');
    const counted: number[] = [];
    const sink = await JsonlFileSink.open(path, { maxQueue: 10, onDrop: (_r, n) => counted.push(n) });
    for (let k = 0; k < 25; k++) sink.write(record({ k }));
    await sink.close();
    sink.write(record({ late: true }));
    expect(sink.stats().dropped).toEqual({ queue_full: 15, unserialisable: 0, write_failed: 0, closed: 1 });
    expect(counted.reduce((a, b) => a + b, 0)).toBe(16);
    expect(lines(path)).toHaveLength(10);
  });

  it('drops and counts a record that cannot be serialised, and keeps logging', async () => {
    const path = join(tempDir(), 'decisions.jsonl');
    const sink = await JsonlFileSink.open(path);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    let deep: unknown = 1;
    for (let k = 0; k < 20_000; k++) deep = [deep];
    // Records made by hand, past decisionRecord's copy of the request.
    const hostile = [cyclic, { n: 10n }, { deep }].map(
      (request) => ({ ...record({}), request }) as unknown as LogRecord,
    );
    for (const r of hostile) expect(() => sink.write(r)).not.toThrow();
    sink.write(record({ after: true }));
    await sink.close();
    expect(sink.stats()).toMatchObject({ written: 1, dropped: { unserialisable: 3 } });
    expect(lines(path).map((l) => (JSON.parse(l) as { request: unknown }).request)).toEqual([{ after: true }]);
  });

  it('refuses a path that is not a regular file, with a coded error', async () => {
    await expect(JsonlFileSink.open('/dev/full')).rejects.toMatchObject({
      code: 'unsafe_log_file',
      message: 'decision log "/dev/full" is not a regular file',
    });
    await expect(JsonlFileSink.open(tempDir())).rejects.toMatchObject({ code: 'unsafe_log_file' });
    await expect(JsonlFileSink.open(join('/dev/null', 'x', 'log.jsonl'))).rejects.toMatchObject({
      code: 'write_failed',
      message: expect.stringMatching(/^cannot open the decision log "\/dev\/null\/x\/log\.jsonl": /) as unknown,
    });
  });

  it('refuses a file of another user', async () => {
    let path = '/etc/passwd';
    if (process.getuid?.() === 0) {
      path = join(tempDir(), 'theirs.jsonl');
      writeFileSync(path, '');
      chownSync(path, 4321, 4321);
    }
    const before = readFileSync(path);
    await expect(JsonlFileSink.open(path)).rejects.toMatchObject({
      code: 'unsafe_log_file',
      message: expect.stringMatching(/belongs to another user/) as unknown,
    });
    expect(readFileSync(path)).toEqual(before);
  });
});

describe('JSON Lines stream sink', () => {
  it('counts failed writes, tells once, and survives the stream erroring', async () => {
    const errors: string[] = [];
    const stream = failingStream();
    const sink = new JsonlStreamSink(stream, { onError: (e) => errors.push(e.message) });
    sink.write(record({ a: 1 }));
    await new Promise((r) => setImmediate(r));
    sink.write(record({ a: 2 }));
    await sink.close();
    expect(sink.stats()).toMatchObject({ written: 0, dropped: { write_failed: 2 } });
    expect(errors).toEqual(['EPIPE: nobody reads']);
  });

  it('returns from close() when the stream never takes the last lines, counting them dropped', async () => {
    const stream = stuckStream();
    const sink = new JsonlStreamSink(stream, { closeTimeoutMs: 50 });
    for (let k = 0; k < 5; k++) sink.write(record({ k }));
    await sink.close();
    expect(sink.stats()).toEqual({
      written: 0,
      dropped: { queue_full: 0, unserialisable: 0, write_failed: 0, closed: 5 },
    });
    // Destroyed, so a pipe nobody reads cannot hold the process open.
    expect(stream.destroyed).toBe(true);
  });
});

describe('fan-out sink', () => {
  it('adds up the stats of every sink and closes them all', async () => {
    const path = join(tempDir(), 'decisions.jsonl');
    const file = await JsonlFileSink.open(path);
    const failing = new JsonlStreamSink(failingStream());
    const stuck = new JsonlStreamSink(stuckStream(), { closeTimeoutMs: 50 });
    const fan = new FanoutSink([file, failing, stuck]);
    for (let k = 0; k < 3; k++) fan.write(record({ k }));
    await fan.close();
    fan.write(record({ late: true }));
    expect(fan.stats()).toEqual({
      written: 3,
      dropped: { queue_full: 0, unserialisable: 0, write_failed: 3, closed: 3 + 3 },
    });
    expect(lines(path)).toHaveLength(3);
  });
});

describe('decision log in the service', () => {
  it('keeps deciding when a sink cannot write, and the metrics count every sink', async () => {
    const dir = tempDir();
    const handle = await startServe({
      sources: { file: PRODUCTION },
      tcp: { host: '127.0.0.1', port: 0 },
      decisionLog: join(dir, 'decisions.jsonl'),
      sink: new JsonlStreamSink(failingStream()),
    });
    try {
      const target = { port: handle.port! };
      for (let k = 0; k < 5; k++) {
        const reply = await call(target, 'POST', '/mcp/policy/evaluate', { action: 'invoke', tool: 'delete_x' });
        expect(reply.status).toBe(200);
        expect((reply.json() as { allowed: boolean }).allowed).toBe(false);
      }
      // The log is written after the replies: poll the metrics until the last batch is counted.
      let text = '';
      for (let t = 0; t < 200 && !/write_failed"\} 5$/m.test(text); t++) {
        await new Promise((r) => setTimeout(r, 25));
        text = (await call(target, 'GET', '/metrics')).text;
      }
      expect(text).toMatch(/^mcp_policy_decision_log_dropped_total\{reason="write_failed"\} 5$/m);
      expect(text).toMatch(/^mcp_policy_decision_log_written_total 5$/m);
    } finally {
      await handle.close();
    }
    expect(lines(join(dir, 'decisions.jsonl'))).toHaveLength(5);
  });

  it('refuses a log that is a link, a FIFO or a device at start-up, and touches nothing', async () => {
    const dir = tempDir();
    const target = join(dir, 'target.txt');
    writeFileSync(target, 'precious\n');
    const link = join(dir, 'link.jsonl');
    symlinkSync(target, link);
    const dangling = join(dir, 'dangling.jsonl');
    const missing = join(dir, 'created-by-following.txt');
    symlinkSync(missing, dangling);
    const fifo = join(dir, 'fifo.jsonl');
    execFileSync('mkfifo', [fifo]);
    for (const [path, what] of [
      [link, 'is a symbolic link'],
      [dangling, 'is a symbolic link'],
      [fifo, 'is not a regular file'],
      ['/dev/null', 'is not a regular file'],
    ] as const) {
      const started = startServe({
        sources: { file: PRODUCTION },
        tcp: { host: '127.0.0.1', port: 0 },
        decisionLog: path,
      });
      // The code before these checks opened the log only at the first record: close what it started.
      void started.then(
        (h) => h.close(),
        () => undefined,
      );
      await expect(started, path).rejects.toMatchObject({
        code: 'unsafe_log_file',
        message: `decision log ${JSON.stringify(path)} ${what}`,
      });
    }
    expect(readFileSync(target, 'utf8')).toBe('precious\n');
    expect(existsSync(missing)).toBe(false);
  });

  it('creates the log 0600 and narrows an existing one to 0600', async () => {
    const dir = tempDir();
    const fresh = join(dir, 'fresh', 'decisions.jsonl');
    const old = join(dir, 'old.jsonl');
    writeFileSync(old, '{"kept":true}\n', { mode: 0o644 });
    chmodSync(old, 0o644);
    for (const path of [fresh, old]) {
      const handle = await startServe({
        sources: { file: PRODUCTION },
        tcp: { host: '127.0.0.1', port: 0 },
        decisionLog: path,
      });
      await call({ port: handle.port! }, 'POST', '/mcp/policy/evaluate', DELETE);
      await handle.close();
      expect(statSync(path).mode & 0o777, path).toBe(0o600);
    }
    expect(lines(old)).toHaveLength(2);
    expect(lines(fresh)).toHaveLength(1);
  });
});

/** A version 2 policy whose rules test arguments at pointers with a `*`, an escaped `/`, and none. */
const ARGUMENT_POLICY = {
  version: 2,
  default: 'deny',
  rules: [
    {
      action: 'invoke',
      tools: ['read_multiple_files'],
      arguments: [
        { path: '/paths/*', match: ['/data/*'], normalize: 'path' },
        { path: '/mode', in: ['fast', 'slow'] },
        { path: '/paths/*', match: ['*.txt'] },
      ],
      allow: true,
      reason: 'reading text under /data',
    },
    { action: 'invoke', arguments: [{ path: '/a~1b', present: true }], allow: false, reason: 'no a/b' },
    { action: 'load', allow: true },
  ],
};

describe('decision log: the argument paths that decided', () => {
  const requests = [
    {
      action: 'invoke',
      server: 'fs',
      tool: 'read_multiple_files',
      arguments: { paths: ['/data/x.txt'], mode: 'fast' },
    },
    { action: 'invoke', server: 'fs', tool: 'write_file', arguments: { 'a/b': 'secret-value-42' } },
    { action: 'load', server: 'fs', tool: 'write_file' },
    { action: 'invoke', server: 'fs', tool: 'read_multiple_files', arguments: { paths: ['/etc/passwd'] } },
  ];

  for (const how of ['native engine on the policy', 'compiled bundle'] as const) {
    it(`names the deciding rule's argument pointers as written, without values (${how})`, async () => {
      const dir = tempDir();
      const log = join(dir, 'decisions.jsonl');
      let file = join(dir, 'policy.json');
      writeFileSync(file, JSON.stringify(ARGUMENT_POLICY));
      if (how === 'compiled bundle') {
        const bundle = join(dir, 'bundle.tar.gz');
        writeFileSync(bundle, await bundleOf(JSON.stringify(ARGUMENT_POLICY)));
        file = bundle;
      }
      const handle = await startServe({
        sources: { file, ...(how === 'native engine on the policy' && { engine: 'native' as const }) },
        tcp: { host: '127.0.0.1', port: 0 },
        decisionLog: log,
      });
      try {
        const reply = await call({ port: handle.port! }, 'POST', '/mcp/policy/evaluate/batch', { requests });
        expect(reply.status).toBe(200);
        const { decisions } = reply.json() as { decisions: { allowed: boolean }[] };
        expect(decisions.map((d) => d.allowed)).toEqual([true, false, true, false]);
      } finally {
        await handle.close();
      }
      const logged = lines(log).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(logged.map((r) => (r.decision as Decision).rule)).toEqual([0, 1, 2, null]);
      expect(logged.map((r) => r.argument_paths)).toEqual([['/paths/*', '/mode'], ['/a~1b'], undefined, undefined]);
      expect(logged[1]?.request).toMatchObject({ arguments: { 'a/b': 'string' } });
      expect(readFileSync(log, 'utf8')).not.toContain('secret-value-42');
    });
  }
  it("names the shadow candidate's argument paths where it decides differently", async () => {
    const dir = tempDir();
    const log = join(dir, 'decisions.jsonl');
    const primary = join(dir, 'policy.json');
    writeFileSync(primary, JSON.stringify(ARGUMENT_POLICY));
    const candidate = join(dir, 'candidate.json');
    writeFileSync(
      candidate,
      JSON.stringify({
        version: 2,
        default: 'allow',
        rules: [
          { action: 'invoke', arguments: [{ path: '/mode', equals: 'slow' }], allow: true },
          { action: 'invoke', arguments: [{ path: '/paths/0', present: true }], allow: false, reason: 'shadow' },
        ],
      }),
    );
    const handle = await startServe({
      sources: { file: primary, engine: 'native' },
      shadow: { file: candidate, engine: 'native' },
      tcp: { host: '127.0.0.1', port: 0 },
      decisionLog: log,
    });
    try {
      const reply = await call({ port: handle.port! }, 'POST', '/mcp/policy/evaluate', requests[0]);
      expect(reply.status).toBe(200);
    } finally {
      await handle.close();
    }
    const [logged] = lines(log).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged?.argument_paths).toEqual(['/paths/*', '/mode']);
    expect(logged?.shadow).toMatchObject({ decision: { allowed: false, rule: 1 }, argument_paths: ['/paths/0'] });
  });
});

describe('decision log of the proxy', () => {
  it('refuses a log that is a symbolic link before anything starts', async () => {
    const dir = tempDir();
    const target = join(dir, 'target.txt');
    writeFileSync(target, 'precious\n');
    const link = join(dir, 'link.jsonl');
    symlinkSync(target, link);
    const engine = new NativeEngine((await loadPolicyFile(PRODUCTION)).policy);
    const started = startProxy({
      engine,
      target: { kind: 'command', command: process.execPath, args: ['-e', ''] },
      facts: { server: 'fs', transport: 'streamable' },
      listen: new URL('http://127.0.0.1:0/mcp'),
      decisionLog: link,
    });
    void started.then(
      (p) => p.close(),
      () => undefined,
    );
    await expect(started).rejects.toMatchObject({ code: 'unsafe_log_file' });
    expect(readFileSync(target, 'utf8')).toBe('precious\n');
  });
});

describe('decision log on standard output', () => {
  it('lets SIGTERM end serve although nobody reads its standard output', async () => {
    const dir = tempDir();
    const socket = join(dir, 's.sock');
    const { child, exited, stderr } = await spawnServe([PRODUCTION, '--socket', socket, '--decision-log', '-']);
    // Far more log than a pipe holds (64 KiB), and the test never reads it.
    const body = { requests: Array.from({ length: 2_000 }, () => DELETE) };
    for (let k = 0; k < 3; k++)
      expect((await call({ socket }, 'POST', '/mcp/policy/evaluate/batch', body)).status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited, stderr()).toBe(0);
    child.stdout!.destroy();
  });
});

/** A JSON object nested `levels` deep: `{"a":{"a":…1…}}`, about 6 bytes a level. */
function nested(levels: number): string {
  return `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
}

describe('decision log against hostile requests', () => {
  it('survives a request nested 20,000 levels deep on every endpoint and logs every acknowledged decision', async () => {
    const dir = tempDir();
    const log = join(dir, 'decisions.jsonl');
    const { child, exited, stderr } = await spawnServe([PRODUCTION, '--addr', '127.0.0.1:0', '--decision-log', log]);
    const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr())?.[1]);
    const target = { port };
    const deep = nested(20_000);
    const deepRequest = `{"action":"invoke","tool":"x","deep":${deep}}`;
    const hostile: [string, string][] = [
      ['/mcp/policy/evaluate', deepRequest],
      ['/mcp/policy/evaluate/batch', `{"requests":[${deepRequest},${JSON.stringify(DELETE)}]}`],
      ['/v1/data/mcp_policy/decision', `{"input":${deepRequest}}`],
      ['/v1/data/mcp_policy/decisions', `{"input":{"requests":[${deepRequest}]}}`],
      ['/mcp/audit', `{"trigger":"invoke","result":"denied","deep":${deep}}`],
    ];
    let decisions = 0;
    let audits = 0;
    for (const [path, body] of hostile) {
      expect(body.length).toBeGreaterThan(100_000);
      const reply = await call(target, 'POST', path, body);
      expect(reply.status, path).toBe(200);
      const json = reply.json() as { decisions?: unknown[]; result?: unknown; accepted?: boolean };
      if (json.accepted === true) audits++;
      else
        decisions += Array.isArray(json.decisions)
          ? json.decisions.length
          : Array.isArray(json.result)
            ? json.result.length
            : 1;
      // The next request is answered by the same process: the log of the last one did not kill it.
      const after = await call(target, 'POST', '/mcp/policy/evaluate', DELETE);
      expect(after.json(), path).toEqual(DENIED);
      decisions++;
    }
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const records = lines(log).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.filter((r) => r.kind === 'decision')).toHaveLength(decisions);
    expect(records.filter((r) => r.kind === 'audit')).toHaveLength(audits);
    const deepOnes = records.filter((r) => typeof r.request_error === 'string' || typeof r.event_error === 'string');
    expect(deepOnes).toHaveLength(5);
    for (const r of deepOnes) {
      expect(r.kind === 'audit' ? r.event : r.request).toBeNull();
      expect(r.kind === 'audit' ? r.event_error : r.request_error).toMatch(/nests deeper than 32 levels/);
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
