/**
 * OPA-format decision-log upload against a real HTTP collector on loopback:
 * gzip batches of OPA decision events, size-bounded, retried until
 * acknowledged, nothing lost.
 */
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { OpaDecisionLogUploader, type OpaDecisionEvent } from '../src/fleet/opa-upload.js';
import { auditRecord, decisionRecord } from '../src/host/decision-log.js';
import { OpaServer } from '../scripts/fleet-opa.js';
import { type Decision } from '../src/policy/model.js';
import { collector } from './fleet-helpers.js';

const YES: Decision = { allowed: true, reason: 'ok', rule: 0 };
const NO: Decision = { allowed: false, reason: 'no', rule: null };

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
    up.write(
      decisionRecord({
        time: '2026-11-23T12:00:00.000Z',
        endpoint: '/mcp/policy/evaluate',
        revision: 'abc',
        request: { action: 'load', server: 'fetch' },
        decision: { allowed: true, reason: 'ok', rule: 0 },
        latency_us: 1.2,
      }),
    );
    up.write(decisionRecord({ stage: 'tools/call', request: { action: 'invoke' }, decision: NO }));
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
      decision_id: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
      path: 'mcp_policy/decision',
      input: { action: 'load', server: 'fetch' },
      result: { allowed: true, reason: 'ok', rule: 0 },
      timestamp: '2026-11-23T12:00:00.000Z',
      bundles: { 'mcp-policy': { revision: 'abc' } },
      metrics: { timer_rego_query_eval_ns: 1200 },
    });
    expect(second!.decision_id).not.toBe(first!.decision_id);
    expect(Date.parse(second!.timestamp)).not.toBeNaN();
    expect(second!.input).toEqual({ action: 'invoke' });
    expect(up.stats()).toEqual({
      written: 2,
      uploads: 1,
      failedUploads: 0,
      buffered: 0,
      skipped: 0,
      dropped: { queue_full: 0, unserialisable: 0, write_failed: 0, closed: 0 },
    });
  });

  it('splits batches by size and keeps every event through collector failures, in order', async () => {
    const c = await collector();
    servers.push(c.server);
    c.failNext = 2;
    const up = new OpaDecisionLogUploader({ url: c.url, maxBatchBytes: 2000, flushIntervalMs: 60_000 });
    for (let k = 0; k < 50; k++) up.write(decisionRecord({ request: { k }, decision: k % 2 === 0 ? YES : NO }));
    await up.flush();
    expect(up.stats().failedUploads).toBe(1);
    expect(up.stats().buffered).toBe(50);
    await up.close(); // ignores the backoff once
    expect(up.stats().failedUploads).toBe(2);
    await up.flush();
    expect(up.stats().failedUploads).toBe(2); // still backing off: no request sent
    await up.flush(true);
    expect(up.stats()).toMatchObject({ written: 50, buffered: 0, dropped: { queue_full: 0 } });
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
    for (let k = 0; k < 25; k++) up.write(decisionRecord({ request: { k }, decision: YES }));
    expect(up.stats()).toMatchObject({ dropped: { queue_full: 15 }, buffered: 10 });
    await up.close();
    expect(up.stats().failedUploads).toBe(1);
    up.write(decisionRecord({ request: {}, decision: YES }));
    expect(up.stats().dropped.closed).toBe(1);
  });

  it('returns from close() in its bound when the collector never answers, keeping the events buffered', async () => {
    // A collector that reads the upload and never replies.
    const silent = createServer(() => undefined);
    servers.push(silent);
    await new Promise<void>((ok) => silent.listen(0, '127.0.0.1', ok));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const up = new OpaDecisionLogUploader({ url, flushIntervalMs: 60_000, timeoutMs: 600_000, closeTimeoutMs: 100 });
    up.write(decisionRecord({ request: { k: 1 }, decision: YES }));
    await up.close();
    expect(up.stats()).toMatchObject({ written: 0, buffered: 1, failedUploads: 1 });
    silent.closeAllConnections();
  });

  it('uploads a hostile request without its body, and counts a record that cannot be serialised', async () => {
    const c = await collector();
    servers.push(c.server);
    const up = new OpaDecisionLogUploader({ url: c.url, flushIntervalMs: 60_000 });
    let deep: unknown = 1;
    for (let k = 0; k < 20_000; k++) deep = { a: deep };
    up.write(decisionRecord({ request: { action: 'invoke', deep }, decision: NO }));
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    // A record made by hand, past decisionRecord's copy: the uploader still must not throw.
    expect(() =>
      up.write({ time: new Date().toISOString(), kind: 'decision', request: cyclic, decision: NO }),
    ).not.toThrow();
    await up.close();
    expect(c.batches.flat().map((e) => e.input)).toEqual([null]);
    expect(up.stats()).toMatchObject({ written: 1, dropped: { unserialisable: 1 } });
  });

  it('maps decision records to OPA events and skips audit records', async () => {
    const c = await collector();
    servers.push(c.server);
    const up = new OpaDecisionLogUploader({ url: c.url, bundleName: 'prod', flushIntervalMs: 60_000 });
    const request = { action: 'invoke', tool: 'read_file' };
    const decision = { allowed: false, reason: 'no', rule: null };
    up.write(
      decisionRecord({
        time: '2026-11-23T12:00:00.000Z',
        endpoint: '/mcp/policy/evaluate',
        revision: 'r1',
        request,
        decision,
        latency_us: 12,
      }),
    );
    up.write(auditRecord('/mcp/audit', { trigger: 'invoke' }, '2026-11-23T12:00:01.000Z'));
    await up.close();
    expect(c.batches.flat()).toEqual([
      expect.objectContaining({
        path: 'mcp_policy/decision',
        input: request,
        result: decision,
        timestamp: '2026-11-23T12:00:00.000Z',
        bundles: { prod: { revision: 'r1' } },
        metrics: { timer_rego_query_eval_ns: 12_000 },
      }),
    ]);
    expect(up.stats()).toMatchObject({ written: 1, skipped: 1 });
  });

  it("uploads what OPA's own decision-log plugin uploads: same request shape, same event fields and types", async () => {
    const c = await collector();
    servers.push(c.server);
    const dir = mkdtempSync(join(tmpdir(), 'mcp-policy-opa-logs-'));
    const policy = join(dir, 'policy.rego');
    writeFileSync(policy, 'package mcp_policy\n\ndecision := {"allowed": true, "reason": "ok", "rule": 0}\n');
    const config = [
      'services:',
      '  collector:',
      `    url: ${JSON.stringify(c.url)}`,
      'decision_logs:',
      '  service: collector',
      '  reporting:',
      '    min_delay_seconds: 1',
      '    max_delay_seconds: 1',
    ].join('\n');
    const opa = await OpaServer.start(config, dir, 0, [policy]);
    try {
      const input = { action: 'load', server: 'fetch' };
      let result: unknown;
      for (let t = 0; t < 100 && result === undefined; t++) {
        result = await opa.query('mcp_policy/decision', input).catch(() => undefined);
        if (result === undefined) await sleep(50);
      }
      for (let t = 0; t < 100 && c.batches.length === 0; t++) await sleep(50);
      const theirs = c.batches.flat().find((e) => e.path === 'mcp_policy/decision')!;
      expect(theirs, opa.log).toBeDefined();
      expect(c.headers[0]).toMatchObject({ path: '/logs', method: 'POST', 'content-encoding': 'gzip' });

      const up = new OpaDecisionLogUploader({ url: c.url, flushIntervalMs: 60_000 });
      // bundles are in OPA's format too, but this OPA (no bundle, default settings) sends none.
      up.write(decisionRecord({ request: input, decision: result as Decision, latency_us: 0.005 }));
      await up.close();
      const ours = c.batches.at(-1)![0]!;
      expect(c.headers.at(-1)).toMatchObject({ path: '/logs', method: 'POST', 'content-encoding': 'gzip' });
      const shape = (v: unknown): unknown =>
        Array.isArray(v)
          ? 'array'
          : typeof v === 'object' && v !== null
            ? Object.fromEntries(Object.keys(v).map((k) => [k, shape((v as Record<string, unknown>)[k])]))
            : typeof v;
      // Every field we send is one OPA sends, with the same JSON type; input, result and path are equal.
      for (const key of Object.keys(ours) as (keyof OpaDecisionEvent)[]) {
        expect(Object.keys(theirs), key).toContain(key);
        if (key !== 'labels' && key !== 'metrics') expect(typeof ours[key], key).toBe(typeof theirs[key]);
      }
      expect(Object.keys(ours.metrics!).every((k) => k in theirs.metrics!)).toBe(true);
      expect(shape(ours.labels)).toEqual({ id: 'string', version: 'string' });
      expect(shape(theirs.labels)).toMatchObject({ id: 'string', version: 'string' });
      expect([ours.path, ours.input, ours.result]).toEqual([theirs.path, theirs.input, theirs.result]);
      expect(Number.isNaN(Date.parse(theirs.timestamp))).toBe(false);
      expect(Number.isNaN(Date.parse(ours.timestamp))).toBe(false);
    } finally {
      await opa.stop();
    }
  });
});
