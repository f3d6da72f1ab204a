/**
 * `mcp-policy serve` as a process: where --docker-desktop listens, start-up
 * errors, SIGTERM with requests in flight (all answered, log flushed),
 * argument values kept out of the log unless asked, and --workers giving the same answers.
 */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, EXAMPLES } from './helpers.js';
import { call, type Reply, spawnServe, tempDir } from './serve-helpers.js';

const PRODUCTION = join(EXAMPLES, 'production.json');
const DELETE = { server: 'fs', action: 'invoke', tool: 'delete_file' };
const DENIED = { allowed: false, reason: 'Block destructive operations across all servers' };

/** Polls a condition until it holds; fails after a deadline. */
async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The requests the service is answering now, from its /metrics text. */
function inFlight(metrics: Reply): number {
  return Number(/^mcp_policy_http_requests_in_flight (\d+)$/m.exec(metrics.text)?.[1] ?? -1);
}

type Outcome = 'answered' | 'refused' | 'reset';

/** One decision on a keep-alive agent: answered, refused (no connection was made), or reset (the request was lost). */
function decide(agent: Agent, port: number, seen: { closeHeaders: number }): Promise<Outcome> {
  const text = JSON.stringify(DELETE);
  return new Promise((resolve) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/mcp/policy/evaluate',
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) },
      },
      (res) => {
        let out = '';
        res.on('data', (c: Buffer) => (out += c.toString()));
        res.on('end', () => {
          if (res.headers.connection === 'close') seen.closeHeaders++;
          resolve(res.statusCode === 200 && out === JSON.stringify(DENIED) ? 'answered' : 'reset');
        });
        res.on('error', () => resolve('reset'));
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED' ? 'refused' : 'reset'));
    req.end(text);
  });
}

describe('serve process', () => {
  it('--docker-desktop listens at $HOME/.docker/desktop/backend.sock, owner-only, and refuses a live one', async () => {
    const home = join(tempDir(), 'home');
    mkdirSync(home);
    const env = { ...process.env, HOME: home };
    const { child, exited } = await spawnServe([PRODUCTION, '--docker-desktop'], env);
    const socket = join(home, '.docker', 'desktop', 'backend.sock');
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect((await call({ socket }, 'POST', '/mcp/policy/evaluate', DELETE)).json()).toEqual(DENIED);
    const second = await cli(['serve', PRODUCTION, '--socket', socket]);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`mcp-policy: a server is already answering on "${socket}" (socket_in_use)\n`);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('reports a bad bundle or policy at start-up with a coded error', async () => {
    const bad = await cli(['serve', join(EXAMPLES, 'production.cases.json'), '--addr', '127.0.0.1:0']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/production\.cases\.json/);
    const none = await cli(['serve', PRODUCTION]);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe('mcp-policy: give --socket, --docker-desktop or --addr (usage)\n');
  });

  it('finishes in-flight requests on SIGTERM and flushes the decision log', async () => {
    const dir = tempDir();
    const socket = join(dir, 's.sock');
    const log = join(dir, 'decisions.jsonl');
    const { child, exited, stderr } = await spawnServe([PRODUCTION, '--socket', socket, '--decision-log', log]);
    // Requests the server has begun to read: headers sent, the body still coming.
    const body = JSON.stringify({ requests: Array.from({ length: 500 }, () => DELETE) });
    const half = body.length >> 1;
    const pending = Array.from({ length: 10 }, () => {
      const conn = connect(socket);
      let text = '';
      conn.on('data', (c: Buffer) => (text += c.toString()));
      conn.write(
        `POST /mcp/policy/evaluate/batch HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, half)}`,
      );
      return { conn, done: new Promise<string>((r) => conn.once('close', () => r(text))) };
    });
    // A keep-alive connection the gateway left open, which shutdown closes.
    await call({ socket }, 'GET', '/ping', undefined, true);
    // The ten requests are in flight once the service has parsed their headers (the /metrics request is one more).
    await waitFor(async () => inFlight(await call({ socket }, 'GET', '/metrics')) === 11, 'ten requests in flight');
    child.kill('SIGTERM');
    await waitFor(() => /SIGTERM: finishing in-flight requests/.test(stderr()), 'shutdown under way');
    for (const p of pending) p.conn.write(body.slice(half));
    for (const text of await Promise.all(pending.map((p) => p.done))) {
      expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(text).toMatch(/\r\nConnection: close\r\n/);
      const json = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { decisions: unknown[] };
      expect(json.decisions).toHaveLength(500);
      expect(json.decisions[499]).toEqual(DENIED);
    }
    expect(await exited).toBe(0);
    expect(stderr()).toMatch(/SIGTERM: finishing in-flight requests/);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(5_000);
  });

  it('logs argument values as their JSON types, and as they are with --log-arguments', async () => {
    const logged = async (flags: string[]) => {
      const dir = tempDir();
      const socket = join(dir, 's.sock');
      const log = join(dir, 'decisions.jsonl');
      const { child, exited } = await spawnServe([PRODUCTION, '--socket', socket, '--decision-log', log, ...flags]);
      const request = { action: 'invoke', tool: 'read_file', arguments: { path: '/home/ann/.ssh/id_ed25519', n: [1] } };
      expect((await call({ socket }, 'POST', '/mcp/policy/evaluate', request)).status).toBe(200);
      // SIGTERM flushes the log before the process exits.
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const [record] = readFileSync(log, 'utf8').trim().split('\n');
      return (JSON.parse(record!) as { request: { arguments: unknown } }).request.arguments;
    };
    expect(await logged([])).toEqual({ path: 'string', n: ['number'] });
    expect(await logged(['--log-arguments'])).toEqual({ path: '/home/ann/.ssh/id_ed25519', n: [1] });
  });

  it('answers every request sent before or during SIGTERM under load from keep-alive clients: none is reset', async () => {
    const { child, exited, stderr, port } = await spawnServe([PRODUCTION, '--addr', '127.0.0.1:0']);
    const clients = 32;
    const agent = new Agent({ keepAlive: true, maxSockets: clients });
    const seen = { closeHeaders: 0 };
    const counts: Record<Outcome, number> = { answered: 0, refused: 0, reset: 0 };
    // Each client decides in a loop until the service refuses its connection: the listener is closed.
    const loops = Array.from({ length: clients }, async () => {
      for (;;) {
        const outcome = await decide(agent, port!, seen);
        counts[outcome]++;
        if (outcome === 'refused') return;
      }
    });
    // Every connection is in use before the signal: then none of them waits in the kernel's accept queue.
    await waitFor(() => counts.answered >= clients * 20, 'the load under way');
    child.kill('SIGTERM');
    await Promise.all(loops);
    agent.destroy();
    expect(await exited).toBe(0);
    expect(stderr()).toMatch(/SIGTERM: finishing in-flight requests/);
    expect(counts.reset).toBe(0);
    expect(counts.refused).toBe(clients);
    // Requests that arrived during shutdown were answered and told to close the connection.
    expect(seen.closeHeaders).toBeGreaterThan(0);
  });

  it('--workers 2 answers the same over TCP and stops on SIGTERM', async () => {
    const {
      child,
      exited,
      stderr,
      port: reported,
    } = await spawnServe([PRODUCTION, '--addr', '127.0.0.1:0', '--workers', '2']);
    expect(stderr()).toMatch(/2 workers serving on http:\/\/127\.0\.0\.1:\d+\n/);
    const port = reported!;
    const replies = await Promise.all(
      Array.from({ length: 40 }, () => call({ port }, 'POST', '/mcp/policy/evaluate', DELETE)),
    );
    for (const r of replies) expect(r.json()).toEqual(DENIED);
    // Whichever worker answers /metrics, it reports the whole cluster.
    const metrics = await call({ port }, 'GET', '/metrics');
    expect(metrics.text).toMatch(
      /^mcp_policy_decisions_total\{endpoint="\/mcp\/policy\/evaluate",result="denied"\} 40$/m,
    );
    expect(metrics.text).toMatch(/^mcp_policy_bundle_info\{revision="[0-9a-f]{64}"\} 1$/m);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
