/**
 * A fleet on loopback: the bundle service and three real `opa run --server`
 * processes configured by `compile --opa-config`, pulling and verifying the
 * signed bundle. They answer exactly as the wasm and native engines, converge
 * on a recompiled policy, and refuse every tampered bundle (as every
 * mcp-policy loader does) while the previous revision keeps serving.
 */
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBundleFiles } from '../src/bundle/read.js';
import { parseCaseFile } from '../src/testing/cases.js';
import { compilePolicy } from '../src/pipeline/build.js';
import { NativeEngine } from '../src/engines/native.js';
import { WasmEngine } from '../src/engines/wasm.js';
import { type BundleService, startBundleService } from '../src/fleet/bundle-service.js';
import { OpaServer } from '../scripts/fleet-opa.js';
import { OpaDecisionLogUploader } from '../src/fleet/opa-upload.js';
import { decisionRecord } from '../src/host/decision-log.js';
import { type Decision } from '../src/policy/model.js';
import { runOpa } from '../src/opa/cli.js';
import { type ServeHandle, startServe } from '../src/server/service.js';
import { collector, rsaKeyPair, tamperings } from './fleet-helpers.js';
import { cli, examplePolicies, mustParse } from './helpers.js';

const production = examplePolicies().find((e) => e.name === 'production')!;
const requests = parseCaseFile(readFileSync(production.casesFile, 'utf8'), production.casesFile).requests!.map(
  (c) => c.request,
);
/** The same policy changed: internal-registry servers no longer load, and reading tools may be invoked. */
const changedPolicyText = (() => {
  const p = JSON.parse(readFileSync(production.policyFile, 'utf8')) as { rules: unknown[] };
  p.rules.splice(1, 1, { action: 'invoke', tools: ['read_*'], allow: true, reason: 'Reading is fine' });
  return JSON.stringify(p, null, 2);
})();

describe('the bundle OPA servers load', () => {
  it('holds the complete Rego and no wasm resolver, so OPA decides it with its interpreter, as wasm does', async () => {
    const compiled = await compilePolicy(mustParse(readFileSync(production.policyFile, 'utf8')));
    const files = readBundleFiles(compiled.bundle);
    const manifest = JSON.parse(new TextDecoder().decode(files.get('.manifest'))) as Record<string, unknown>;
    expect(manifest.wasm).toBeUndefined();
    expect(new TextDecoder().decode(files.get('mcp_policy/policy.rego'))).toBe(compiled.policy);
    const dir = mkdtempSync(join(tmpdir(), 'mcp-policy-opa-bundle-'));
    writeFileSync(join(dir, 'bundle.tar.gz'), compiled.bundle);
    const out = await runOpa(
      ['eval', '--bundle', 'bundle.tar.gz', '--stdin-input', '--format', 'json', 'data.mcp_policy.decisions'],
      { cwd: dir, input: JSON.stringify({ requests }) },
    );
    const interpreted = (JSON.parse(out) as { result: { expressions: { value: unknown }[] }[] }).result[0]!
      .expressions[0]!.value;
    const wasm = await WasmEngine.load(compiled.bundle);
    expect(interpreted).toEqual(wasm.decideBatchSync(requests));
  });
});

describe('fleet of OPA servers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-policy-fleet-'));
  const served = join(dir, 'bundles');
  const keys = rsaKeyPair();
  const keyFile = join(dir, 'signing.pem');
  const pubFile = join(dir, 'verify.pem');
  const changedFile = join(dir, 'changed.json');
  let service: BundleService;
  const opas: OpaServer[] = [];
  /** An mcp-policy decision service in the fleet, polling the same service and verifying with the same key. */
  let serve: ServeHandle | undefined;
  let revision = '';

  async function serveRevision(want: string, timeoutMs = 15_000): Promise<string | undefined> {
    for (let t = 0; t < timeoutMs / 50 && serve?.slot.current?.revision !== want; t++) await sleep(50);
    return serve?.slot.current?.revision;
  }

  /** Polls of the bundle URL the service has completed; one counts once the bundle it fetched is decided. */
  async function servePolls(): Promise<number> {
    const text = await serve!.metrics.registry.metrics();
    return [...text.matchAll(/^mcp_policy_bundle_polls_total\{outcome="\w+"\} (\d+)$/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
  }

  async function waitForServePolls(count: number): Promise<void> {
    for (let t = 0; t < 300 && (await servePolls()) < count; t++) await sleep(50);
    expect(await servePolls()).toBeGreaterThanOrEqual(count);
  }

  /** The service's answers on the example table, over OPA's data API. */
  async function serveDecisions(): Promise<unknown[]> {
    return Promise.all(
      requests.map(async (input) => {
        const r = await fetch(`http://127.0.0.1:${serve!.port}/v1/data/mcp_policy/decision`, {
          method: 'POST',
          body: JSON.stringify({ input }),
        });
        return ((await r.json()) as { result: unknown }).result;
      }),
    );
  }

  beforeAll(async () => {
    writeFileSync(keyFile, keys.privateKey);
    writeFileSync(pubFile, keys.publicKey);
    writeFileSync(changedFile, changedPolicyText);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(served);
    service = await startBundleService({ dir: served, port: 0 });
  });
  afterAll(async () => {
    await serve?.close();
    await Promise.all(opas.map((o) => o.stop()));
    await service?.close();
  });

  /** Compiles a policy file into the served folder with the CLI; returns the revision. */
  async function compileServed(file: string, ...flags: string[]): Promise<{ revision: string; config: string }> {
    const r = await cli([
      'compile',
      file,
      '-o',
      join(served, 'prod'),
      '--opa-config',
      service.url,
      '--opa-poll',
      '1',
      ...flags,
    ]);
    expect(r.code, r.stderr).toBe(0);
    return { revision: /revision ([0-9a-f]{12})/.exec(r.stderr)![1]!, config: r.stdout };
  }

  async function fullRevision(): Promise<string> {
    return (await WasmEngine.load(readFileSync(join(served, 'prod', 'bundle.tar.gz')))).revision!;
  }

  /** Every OPA's decisions on the example table. */
  async function opaDecisions(): Promise<unknown[][]> {
    return Promise.all(opas.map((o) => Promise.all(requests.map((r) => o.query('mcp_policy/decision', r)))));
  }

  async function expectSameAsEngines(policyText: string): Promise<unknown[]> {
    const wasm = await WasmEngine.load(readFileSync(join(served, 'prod', 'bundle.tar.gz')), {
      verificationKey: keys.publicKey,
    });
    const native = new NativeEngine(mustParse(policyText));
    const expected = requests.map((r) => wasm.decideSync(r));
    expect(requests.map((r) => native.decideSync(r))).toEqual(expected);
    for (const answers of await opaDecisions()) expect(answers).toEqual(expected);
    if (serve !== undefined) expect(await serveDecisions()).toEqual(expected);
    return expected;
  }

  it('three OPA servers pull and verify the signed bundle and decide exactly as wasm and native', async () => {
    const { config } = await compileServed(production.policyFile, '--signing-key', keyFile);
    expect(config).toContain('min_delay_seconds: 1');
    revision = await fullRevision();
    // The servers also log decisions, so the uploader's bundle mapping can be held against OPA's own events.
    const logs = await collector();
    const logging =
      config.replace('bundles:', `  logs:\n    url: ${JSON.stringify(logs.url)}\nbundles:`) +
      'decision_logs:\n  service: logs\n  reporting:\n    min_delay_seconds: 1\n    max_delay_seconds: 1\n';
    try {
      for (let k = 0; k < 3; k++) opas.push(await OpaServer.start(logging, dir, k));
      serve = await startServe({
        bundleUrl: `${service.url}/bundles/prod.tar.gz`,
        pollIntervalMs: 200,
        tcp: { host: '127.0.0.1', port: 0 },
        verification: { verificationKey: keys.publicKey },
      });
      await Promise.all(opas.map((o) => o.waitForRevision('prod', revision)));
      expect(await serveRevision(revision)).toBe(revision);
      const decisions = await expectSameAsEngines(readFileSync(production.policyFile, 'utf8'));
      expect(decisions.some((d) => (d as { allowed: boolean }).allowed)).toBe(true);
      const decisionEvent = () => logs.batches.flat().find((e) => e.path === 'mcp_policy/decision');
      for (let t = 0; t < 200 && decisionEvent() === undefined; t++) await sleep(50);
      const theirs = decisionEvent()!;
      expect(theirs.bundles).toEqual({ prod: { revision } });
      const up = new OpaDecisionLogUploader({ url: logs.url, bundleName: 'prod', flushIntervalMs: 60_000 });
      up.write(decisionRecord({ revision, request: theirs.input, decision: theirs.result as Decision }));
      await up.close();
      const ours = logs.batches.flat().find((e) => e.labels.version === 'mcp-policy')!;
      expect([ours.path, ours.input, ours.result, ours.bundles]).toEqual([
        theirs.path,
        theirs.input,
        theirs.result,
        theirs.bundles,
      ]);
    } finally {
      logs.server.close();
    }
  });

  it('converges on a recompiled policy, and the changed decisions show', async () => {
    const before = await opaDecisions();
    await compileServed(changedFile, '--signing-key', keyFile);
    const next = await fullRevision();
    expect(next).not.toBe(revision);
    revision = next;
    // Queries keep coming while the servers swap bundles: every one is answered (no 500 around activation).
    let converged = false;
    const failures: string[] = [];
    const traffic = opas.map(async (o) => {
      for (let k = 0; !converged; k++) {
        await o.query('mcp_policy/decision', requests[k % requests.length]).catch((e: Error) => {
          failures.push(e.message);
        });
      }
    });
    const times = await Promise.all(opas.map((o) => o.waitForRevision('prod', revision, 15_000))).finally(
      () => (converged = true),
    );
    await Promise.all(traffic);
    expect(failures).toEqual([]);
    expect(Math.max(...times)).toBeLessThan(15_000);
    expect(await serveRevision(revision)).toBe(revision);
    await expectSameAsEngines(changedPolicyText);
    expect(await opaDecisions()).not.toEqual(before);
  });

  /** Puts bytes in place of the served bundle the way compile does: a rename, never a partial file. */
  function install(bytes: Uint8Array): void {
    const tmp = join(served, 'prod', '.bundle.tmp');
    writeFileSync(tmp, bytes);
    renameSync(tmp, join(served, 'prod', 'bundle.tar.gz'));
  }

  /** Waits until every OPA has logged one more bundle load failure than before. */
  async function everyOpaRefused(failuresBefore: number[]): Promise<void> {
    const count = (o: OpaServer) => o.log.split('Bundle load failed').length - 1;
    for (let t = 0; t < 200 && opas.some((o, k) => count(o) <= failuresBefore[k]!); t++) await sleep(50);
    for (const [k, o] of opas.entries()) expect(count(o), o.log).toBeGreaterThan(failuresBefore[k]!);
  }

  it('refuses tampered, wrongly signed and unsigned bundles everywhere; the previous revision keeps serving', async () => {
    const good = new Uint8Array(readFileSync(join(served, 'prod', 'bundle.tar.gz')));
    const expected = await opaDecisions();
    const other = rsaKeyPair();
    const otherKey = join(dir, 'other.pem');
    writeFileSync(otherKey, other.privateKey);
    const cases: [string, () => Promise<void>][] = Object.entries(tamperings(good)).map(([name, bytes]) => [
      name,
      async () => install(bytes),
    ]);
    // A different policy, so the revision (the ETag) is new and the servers fetch it.
    cases.push([
      'signed with a wrong key',
      async () => void (await compileServed(production.policyFile, '--signing-key', otherKey)),
    ]);
    cases.push(['unsigned where a key is required', async () => void (await compileServed(production.policyFile))]);
    for (const [name, put] of cases) {
      const failures = opas.map((o) => o.log.split('Bundle load failed').length - 1);
      const polled = await servePolls();
      await put();
      await everyOpaRefused(failures);
      for (const o of opas) expect(await o.revision('prod'), name).toBe(revision);
      expect(await opaDecisions(), name).toEqual(expected);
      // Two more polls done: the second began after the bundle was in place, and what it fetched is decided.
      await waitForServePolls(polled + 2);
      expect(serve!.slot.current?.revision, name).toBe(revision);
      expect(await serveDecisions(), name).toEqual(expected[0]);
      const bytes = readFileSync(join(served, 'prod', 'bundle.tar.gz'));
      await expect(WasmEngine.load(bytes, { verificationKey: keys.publicKey }), name).rejects.toMatchObject({
        code: expect.stringMatching(/^bundle_(file_mismatch|signature_invalid|unsigned)$/) as string,
      });
      const evaluated = await cli(['eval', join(served, 'prod', 'bundle.tar.gz'), '--verification-key', pubFile], '{}');
      expect(evaluated.code, name).toBe(2);
      expect(evaluated.stdout, name).toBe('');
      // The proxy refuses it before starting the server it governs.
      const proxied = await cli([
        'proxy',
        join(served, 'prod', 'bundle.tar.gz'),
        '--verification-key',
        pubFile,
        '--server',
        'x',
        '--',
        process.execPath,
        '-e',
        '1',
      ]);
      expect(proxied.code, name).toBe(2);
      expect(proxied.stderr, name).toMatch(/\(bundle_(file_mismatch|signature_invalid|unsigned)\)/);
    }
    install(good);
  });
});
