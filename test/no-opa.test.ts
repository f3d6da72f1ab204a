/**
 * Only compiling needs opa. With OPA_BIN naming no binary (so any lookup of
 * opa fails with opa_not_found), what does not compile still works: `serve`
 * and `proxy` with `--engine native` on a policy file, and `test` on a
 * compiled bundle; what compiles names the fix.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compilePolicy } from '../src/pipeline/build.js';
import { loadPolicyText } from '../src/policy/validate.js';
import { EXAMPLES } from './helpers.js';
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
      /is a compiled bundle; the native engine needs the policy's JSON file \(usage\)/,
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
