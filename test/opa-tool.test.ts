/**
 * The opa CLI adapter: the pinned version is the one installed, a missing or
 * wrong opa is a clear error naming the fix, and a failed build leaves no
 * partial output.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { localOpaPath, OPA_VERSION, runOpa } from '../src/opa/cli.js';
import { ROOT } from './helpers.js';

function fakeOpa(script: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-policy-fake-opa-'));
  const bin = join(dir, 'opa');
  writeFileSync(bin, `#!/bin/sh\n${script}\n`);
  chmodSync(bin, 0o755);
  return bin;
}

// resolveOpa caches per OPA_BIN value; fresh module instances keep tests independent.
async function freshCli() {
  vi.resetModules();
  return import('../src/opa/cli.js');
}

describe('opa tool', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('pins the same release in tools/opa/go.mod and the code', () => {
    const goMod = readFileSync(join(ROOT, 'tools', 'opa', 'go.mod'), 'utf8');
    expect(goMod).toMatch(
      new RegExp(`^require github.com/open-policy-agent/opa v${OPA_VERSION.replace(/\./g, '\\.')}$`, 'm'),
    );
  });

  it('names the Go release tools/opa/go.mod needs', async () => {
    const goMod = readFileSync(join(ROOT, 'tools', 'opa', 'go.mod'), 'utf8');
    const { GO_MIN_VERSION } = await import('../src/opa/cli.js');
    expect(/^go (\d+\.\d+)/m.exec(goMod)?.[1]).toBe(GO_MIN_VERSION);
  });

  it('looks in $XDG_CACHE_HOME/mcp-policy for the opa setup-opa installs there', async () => {
    vi.stubEnv('XDG_CACHE_HOME', '/var/cache/someone');
    const cli = await freshCli();
    expect(cli.userCacheOpaPath()).toBe(join('/var/cache/someone', 'mcp-policy', 'opa', OPA_VERSION, 'opa'));
  });

  it('is installed by the project setup and reports the pinned version', async () => {
    expect(existsSync(localOpaPath()), `${localOpaPath()} (run npm ci)`).toBe(true);
    expect(await runOpa(['version'])).toContain(`Version: ${OPA_VERSION}`);
  });

  it('can run WebAssembly itself (built with the opa_wasm tag)', async () => {
    expect(await runOpa(['version'])).toMatch(/^WebAssembly: available$/m);
  });

  it('names the fix when OPA_BIN is not an opa', async () => {
    vi.stubEnv('OPA_BIN', join(tmpdir(), 'definitely-not-opa'));
    const cli = await freshCli();
    await expect(cli.resolveOpa()).rejects.toMatchObject({
      code: 'opa_not_found',
      message: expect.stringContaining('run "npx mcp-policy setup-opa"'),
    });
  });

  it('rejects an opa of another version', async () => {
    vi.stubEnv('OPA_BIN', fakeOpa('echo "Version: 0.70.0"'));
    const cli = await freshCli();
    await expect(cli.resolveOpa()).rejects.toMatchObject({
      code: 'opa_version_mismatch',
      message: expect.stringContaining(`needs opa ${OPA_VERSION}`),
    });
  });

  it('wraps a failing opa run into opa_failed with its stderr', async () => {
    vi.stubEnv(
      'OPA_BIN',
      fakeOpa(
        `if [ "$1" = version ]; then echo "Version: ${OPA_VERSION}"; exit 0; fi\necho "boom: disk full" >&2\nexit 3`,
      ),
    );
    const cli = await freshCli();
    await expect(cli.runOpa(['build'])).rejects.toMatchObject({
      code: 'opa_failed',
      message: expect.stringContaining('boom: disk full'),
    });
  });

  it('a failed build writes nothing to the output folder', async () => {
    vi.stubEnv(
      'OPA_BIN',
      fakeOpa(
        `if [ "$1" = version ]; then echo "Version: ${OPA_VERSION}"; exit 0; fi\necho partial > bundle.tar.gz\nexit 1`,
      ),
    );
    vi.resetModules();
    const { runCli } = await import('../src/cli/main.js');
    const parent = mkdtempSync(join(tmpdir(), 'mcp-policy-atomic-'));
    const out = join(parent, 'out');
    let stderr = '';
    const code = await runCli(['compile', join(ROOT, 'examples', 'production.json'), '-o', out], {
      stdout: () => {},
      stderr: (t) => (stderr += t),
      readStdin: () => Promise.resolve(''),
    });
    expect(code).toBe(2);
    expect(stderr).toContain('opa_failed');
    expect(readdirSync(parent)).toEqual([]);
  });
});

describe('wasm capabilities', () => {
  it('wasm/capabilities.json is what the pinned opa yields', () => {
    const out = execFileSync(
      process.execPath,
      [join(ROOT, 'scripts', 'gen-capabilities.mjs'), '--check', localOpaPath()],
      {
        encoding: 'utf8',
      },
    );
    expect(out).toContain('up to date');
  });

  it('declares rego_v1 and leaves out the RE2 and JavaScript builtins', () => {
    const caps = JSON.parse(readFileSync(join(ROOT, 'wasm', 'capabilities.json'), 'utf8')) as {
      features: string[];
      builtins: { name: string }[];
    };
    expect(caps.features).toContain('rego_v1');
    const names = caps.builtins.map((b) => b.name);
    for (const absent of ['glob.match', 'regex.match', 'sprintf', 'time.now_ns']) expect(names).not.toContain(absent);
    for (const present of ['startswith', 'endswith', 'trim_prefix', 'split', 'concat'])
      expect(names).toContain(present);
  });
});
