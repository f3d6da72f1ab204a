/**
 * Only compiling needs opa. With OPA_BIN naming no binary (so any lookup of
 * opa fails with opa_not_found), what does not compile still works: `serve`
 * and `proxy` with `--engine native` on a policy file, and `test` on a
 * compiled bundle; what compiles names the fix.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { compilePolicy } from '../src/pipeline/build.js';
import { loadPolicyText } from '../src/policy/validate.js';
import { cli, EXAMPLES } from './helpers.js';
import { FILESYSTEM, viaStdioProxy } from './proxy/helpers.js';
import { call, spawnServe, tempDir } from './serve-helpers.js';

const PRODUCTION = join(EXAMPLES, 'production.json');
const DELETE = { server: 'fs', action: 'invoke', tool: 'delete_file' };
const NO_OPA = { ...process.env, OPA_BIN: join(tempDir(), 'no-such-opa') };

describe('without opa', () => {
  it('serve --engine native decides a policy file, and the default engine names the fix', async () => {
    const socket = join(tempDir(), 's.sock');
    const { child, exited, stderr } = await spawnServe([PRODUCTION, '--engine', 'native', '--socket', socket], NO_OPA);
    try {
      expect((await call({ socket }, 'POST', '/mcp/policy/evaluate', DELETE)).json()).toEqual({
        allowed: false,
        reason: 'Block destructive operations across all servers',
      });
      const opaApi = await call({ socket }, 'POST', '/v1/data/mcp_policy/decision', { input: DELETE });
      expect(opaApi.json()).toMatchObject({ result: { allowed: false, rule: 2 } });
      expect(stderr()).toMatch(/serving bundle native-[0-9a-f]{5}/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);

    const compiling = spawnServe([PRODUCTION, '--socket', join(tempDir(), 's.sock')], NO_OPA);
    await expect(compiling).rejects.toThrow(/run "npx mcp-policy setup-opa".*\(opa_not_found\)/);
  });

  it('serve --engine native refuses a compiled bundle with a usage error', async () => {
    const dir = tempDir();
    const bundle = join(dir, 'bundle.tar.gz');
    writeFileSync(
      bundle,
      (await compilePolicy(loadPolicyText('{"version":1,"default":"allow","rules":[]}').policy)).bundle,
    );
    const start = spawnServe([bundle, '--engine', 'native', '--socket', join(dir, 's.sock')], NO_OPA);
    await expect(start).rejects.toThrow(
      /is a compiled bundle; the native engine needs the policy file \(JSON or YAML\) \(usage\)/,
    );
  });

  it('proxy --engine native filters tools of a policy file', async () => {
    const dir = tempDir();
    const policy = join(dir, 'policy.json');
    writeFileSync(
      policy,
      JSON.stringify({
        version: 1,
        default: 'allow',
        rules: [{ action: 'load', server: 'filesystem', tools: ['write_*', 'edit_*'], allow: false }],
      }),
    );
    const previous = process.env.OPA_BIN;
    process.env.OPA_BIN = NO_OPA.OPA_BIN;
    try {
      const c = await viaStdioProxy([policy, '--engine', 'native', '--', process.execPath, FILESYSTEM, dir]);
      try {
        const tools = (await c.client.listTools()).tools.map((t) => t.name);
        expect(tools).toContain('read_text_file');
        expect(tools.filter((t) => /^(write|edit)_/.test(t))).toEqual([]);
      } finally {
        await c.close();
      }
    } finally {
      if (previous === undefined) delete process.env.OPA_BIN;
      else process.env.OPA_BIN = previous;
    }
  });
});

describe('test on a compiled bundle', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  async function productionBundle(): Promise<string> {
    const file = join(tempDir(), 'bundle.tar.gz');
    writeFileSync(file, (await compilePolicy(loadPolicyText(readFileSync(PRODUCTION, 'utf8')).policy)).bundle);
    return file;
  }

  it('runs the table on wasm without opa, and fails a case the bundle does not meet', async () => {
    const bundle = await productionBundle();
    vi.stubEnv('OPA_BIN', NO_OPA.OPA_BIN);
    const pass = await cli(['test', bundle, join(EXAMPLES, 'production.cases.json')]);
    expect(pass).toEqual({ code: 0, stdout: 'test: 17 cases on wasm, 0 failures\n', stderr: '' });

    const wrong = join(tempDir(), 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ requests: [{ request: DELETE, expect: { allowed: true } }] }));
    const fail = await cli(['test', bundle, wrong]);
    expect(fail.code).toBe(1);
    expect(fail.stdout).toContain(`FAIL ${wrong}: /requests/0 [wasm]: `);
    expect(fail.stdout).toContain('test: 1 cases on wasm, 1 failures\n');
  });

  it('refuses engines, coverage and tables that need the policy, with usage errors', async () => {
    const bundle = await productionBundle();
    vi.stubEnv('OPA_BIN', NO_OPA.OPA_BIN);
    const cases = join(EXAMPLES, 'production.cases.json');
    const native = await cli(['test', bundle, cases, '--engine', 'native,wasm']);
    expect(native).toMatchObject({ code: 2, stdout: '' });
    expect(native.stderr).toBe(
      `mcp-policy: ${bundle} is a compiled bundle; the native engine needs the policy file (JSON or YAML) (usage)\n`,
    );
    const coverage = await cli(['test', bundle, cases, '--coverage']);
    expect(coverage).toMatchObject({ code: 2, stderr: expect.stringContaining('(usage)') });
    const own = join(tempDir(), 'own.json');
    writeFileSync(own, JSON.stringify({ policy: { version: 1, default: 'allow', rules: [] }, requests: [] }));
    const carried = await cli(['test', bundle, own]);
    expect(carried.stderr).toBe(
      `mcp-policy: ${bundle} is a compiled bundle, but the case table carries its own policy or enterprise config; give one or the other (usage)\n`,
    );
  });
});
