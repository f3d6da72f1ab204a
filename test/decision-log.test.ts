/**
 * OPA-format decision-log upload against a real HTTP collector on loopback:
 * gzip batches of OPA decision events, size-bounded, retried until
 * acknowledged, nothing lost.
 */
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { OpaDecisionLogUploader, type OpaDecisionEvent } from '../src/fleet/decision-log.js';

interface Collector {
  url: string;
  batches: OpaDecisionEvent[][];
  headers: Record<string, string | string[] | undefined>[];
  failNext: number;
  server: Server;
}

async function collector(): Promise<Collector> {
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

describe('OPA decision-log upload', () => {
  const servers: Server[] = [];
  afterAll(() => servers.forEach((s) => s.close()));

  it('posts gzip JSON arrays of OPA decision events to <service>/logs', async () => {
    const c = await collector();
    servers.push(c.server);
    const up = new OpaDecisionLogUploader({
      url: c.url,
      labels: { id: 'host-1', app: 'gateway' },
      flushIntervalMs: 60_000,
    });
    const at = new Date('2026-11-23T12:00:00.000Z');
    up.write({
      path: 'mcp_policy/decision',
      input: { action: 'load', server: 'fetch' },
      result: { allowed: true, reason: 'ok', rule: 0 },
      decisionId: 'd-1',
      timestamp: at,
      bundle: { name: 'prod', revision: 'abc' },
      requestedBy: '127.0.0.1:5000',
      evalNs: 1200,
    });
    up.write({
      path: 'mcp_policy/decision',
      input: { action: 'invoke' },
      result: { allowed: false, reason: 'no', rule: null },
    });
    await up.close();
    expect(c.batches).toHaveLength(1);
    expect(c.headers[0]).toMatchObject({
      path: '/logs',
      method: 'POST',
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    });
    const [first, second] = c.batches[0]!;
    expect(first).toEqual({
      labels: { id: 'host-1', app: 'gateway', version: 'mcp-policy' },
      decision_id: 'd-1',
      path: 'mcp_policy/decision',
      input: { action: 'load', server: 'fetch' },
      result: { allowed: true, reason: 'ok', rule: 0 },
      timestamp: '2026-11-23T12:00:00.000Z',
      bundles: { prod: { revision: 'abc' } },
      requested_by: '127.0.0.1:5000',
      metrics: { timer_rego_query_eval_ns: 1200 },
    });
    expect(second!.decision_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(second!.timestamp)).not.toBeNaN();
    expect(up.stats).toMatchObject({ uploadedEvents: 2, uploads: 1, droppedEvents: 0, buffered: 0 });
  });

  it('splits batches by size and keeps every event through collector failures, in order', async () => {
    const c = await collector();
    servers.push(c.server);
    c.failNext = 2;
    const up = new OpaDecisionLogUploader({ url: c.url, maxBatchBytes: 2000, flushIntervalMs: 60_000 });
    for (let k = 0; k < 50; k++)
      up.write({ path: 'mcp_policy/decision', input: { k }, result: { allowed: k % 2 === 0 } });
    await up.flush();
    expect(up.stats.failedUploads).toBe(1);
    expect(up.stats.buffered).toBe(50);
    await up.close(); // ignores the backoff once
    expect(up.stats.failedUploads).toBe(2);
    await up.flush();
    expect(up.stats.failedUploads).toBe(2); // still backing off: no request sent
    await up.flush(true);
    expect(up.stats).toMatchObject({ uploadedEvents: 50, droppedEvents: 0, buffered: 0 });
    expect(c.batches.length).toBeGreaterThan(1);
    for (const batch of c.batches) expect(JSON.stringify(batch).length).toBeLessThanOrEqual(2000);
    expect(c.batches.flat().map((e) => (e.input as { k: number }).k)).toEqual([...Array(50).keys()]);
  });

  it('drops the oldest events past its buffer bound and counts them', async () => {
    const up = new OpaDecisionLogUploader({
      url: 'http://127.0.0.1:9',
      maxBufferedEvents: 10,
      flushIntervalMs: 60_000,
      timeoutMs: 500,
    });
    for (let k = 0; k < 25; k++) up.write({ path: 'p', input: { k }, result: true });
    expect(up.stats).toMatchObject({ droppedEvents: 15, buffered: 10 });
    await up.close();
    expect(up.stats.failedUploads).toBe(1);
  });
});
