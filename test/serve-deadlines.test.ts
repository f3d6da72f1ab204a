/**
 * Slow clients on loopback: headers or a body dripped a byte at a time are
 * cut at the request deadline with a 408, not when node's connection check
 * happens to run (every 30 s by default). The deadline is configured short
 * here; the test holds the service to the configured bound.
 */
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deadlineCheckInterval, type ServeHandle, startServe } from '../src/server/service.js';
import { bundleOf, tempDir } from './serve-helpers.js';

const DEADLINE_MS = 1_000;
/** How long past the deadline a connection may live: node's check interval, and room for a busy machine. */
const SLACK_MS = deadlineCheckInterval(DEADLINE_MS) + 2_000;

const handles: ServeHandle[] = [];
afterEach(async () => {
  for (const h of handles.splice(0)) await h.close();
});

async function service(): Promise<ServeHandle> {
  const file = join(tempDir(), 'bundle.tar.gz');
  writeFileSync(file, await bundleOf('{"version":1,"default":"allow","rules":[]}'));
  const h = await startServe({
    sources: { file },
    tcp: { host: '127.0.0.1', port: 0 },
    requestTimeoutMs: DEADLINE_MS,
    idleTimeoutMs: 60_000,
  });
  handles.push(h);
  return h;
}

/**
 * Opens a connection, sends `head`, then one byte of `drip` every 50 ms;
 * resolves with what the server sent once it closes the connection, or with
 * `undefined` if it is still open `within` ms after it opened.
 */
function dripped(port: number, head: string, drip: string, within: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let text = '';
    let at = 0;
    const dripper = setInterval(() => {
      if (at < drip.length && socket.writable) socket.write(drip[at++]!);
    }, 50);
    const deadline = setTimeout(() => {
      clearInterval(dripper);
      socket.destroy();
      resolve(undefined);
    }, within);
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearInterval(dripper);
      clearTimeout(deadline);
      resolve(text);
    });
    socket.once('connect', () => socket.write(head));
  });
}

describe('slow clients', () => {
  it('cuts a connection dripping its headers at the deadline, with 408', async () => {
    const h = await service();
    const headers = 'X-Slow: ' + 'a'.repeat(1_000) + '\r\n\r\n';
    const reply = await dripped(h.port!, 'GET /ping HTTP/1.1\r\nHost: localhost\r\n', headers, DEADLINE_MS + SLACK_MS);
    expect(reply).toBeDefined();
    expect(reply).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
  });

  it('cuts a connection dripping its body at the deadline, with 408', async () => {
    const h = await service();
    const body = JSON.stringify({ server: 'a', tool: 'b'.repeat(1_000) });
    const head =
      'POST /mcp/policy/evaluate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n' +
      `Content-Length: ${body.length}\r\n\r\n`;
    const reply = await dripped(h.port!, head, body, DEADLINE_MS + SLACK_MS);
    expect(reply).toBeDefined();
    expect(reply).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
  });

  it('answers a client that is slow but within the deadline', async () => {
    const h = await service();
    const head = 'GET /ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n';
    const reply = await dripped(h.port!, head, '\r\n', DEADLINE_MS + SLACK_MS);
    expect(reply).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  });
});
