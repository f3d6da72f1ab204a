/**
 * A broken opa and a hostile file system: every opa invocation has a
 * timeout, a missing or broken opa exits 2 with a code from every command
 * that needs it, and file-system failures have codes, not raw system text.
 * Fake opa binaries are shell scripts given through OPA_BIN; read-only, full
 * and unwritable folders are real (a tmpfs and a user namespace via unshare).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OPA_VERSION } from '../src/opa/cli.js';
import { cli, EXAMPLES, ROOT } from './helpers.js';

const POLICY = join(EXAMPLES, 'production.json');
const REQUEST = '{"action":"load","serverType":"registry","serverSource":"mcp/fetch"}';
const saved = { OPA_BIN: process.env.OPA_BIN, TIMEOUT: process.env.MCP_POLICY_OPA_TIMEOUT_MS };

afterEach(() => {
  for (const [key, value] of [
    ['OPA_BIN', saved.OPA_BIN],
    ['MCP_POLICY_OPA_TIMEOUT_MS', saved.TIMEOUT],
  ] as const) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

/** A fake opa: answers `version` as the pinned release unless told otherwise, and runs `body` for anything else. */
function fakeOpa(body: string, version = `echo "Version: ${OPA_VERSION}"`): { bin: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-policy-test-fake-opa-'));
  const bin = join(dir, 'opa');
  writeFileSync(
    bin,
    `#!/bin/sh\necho $$ >> "${dir}/pids"\nif [ "$1" = version ]; then\n${version}\nexit 0\nfi\n${body}\n`,
  );
  chmodSync(bin, 0o755);
  return { bin, dir };
}

/** True when no live process (zombies aside) is left in the process groups the fake opa ran as. */
function groupGoneNow(dir: string): boolean {
  const groups = new Set(readFileSync(join(dir, 'pids'), 'utf8').trim().split('\n'));
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .every((pid) => {
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        return true;
      }
      // pid (comm) state ppid pgrp ...
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return state === 'Z' || !groups.has(pgrp!);
    });
}

/** Waits up to 10 s (a killed process may take a moment to die on a loaded machine) for {@link groupGoneNow}. */
async function groupGone(dir: string): Promise<boolean> {
  for (let k = 0; k < 100 && !groupGoneNow(dir); k++) await new Promise((r) => setTimeout(r, 100));
  return groupGoneNow(dir);
}

describe('opa that hangs', () => {
  it('on "version": compile stops with opa_timeout and kills what opa started', async () => {
    const fake = fakeOpa('exit 0', 'sleep 60');
    process.env.OPA_BIN = fake.bin;
    process.env.MCP_POLICY_OPA_TIMEOUT_MS = '1500';
    const started = Date.now();
    const r = await cli(['compile', POLICY, '-o', join(fake.dir, 'out')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/did not answer "opa version" within 1\.5 s.*\(opa_timeout\)\n$/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await groupGone(fake.dir)).toBe(true);
  });

  it('on "build": compile stops with opa_timeout', async () => {
    const fake = fakeOpa('sleep 60');
    process.env.OPA_BIN = fake.bin;
    process.env.MCP_POLICY_OPA_TIMEOUT_MS = '1500';
    const r = await cli(['compile', POLICY, '-o', join(fake.dir, 'out')]);
    expect(r.stderr).toMatch(/^mcp-policy: opa build did not finish within 1\.5 s \(opa_timeout\)\n$/);
    expect(r.code).toBe(2);
    expect(await groupGone(fake.dir)).toBe(true);
  });

  it('on "eval": eval --engine opa stops with opa_timeout instead of answering', async () => {
    process.env.OPA_BIN = fakeOpa('sleep 60').bin;
    process.env.MCP_POLICY_OPA_TIMEOUT_MS = '1500';
    const r = await cli(['eval', POLICY, '--engine', 'opa'], REQUEST);
    expect(r.stderr).toMatch(/opa eval did not finish within 1\.5 s \(opa_timeout\)/);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(2);
  });

  it('while a signal stops mcp-policy: opa is killed with it', async () => {
    const fake = fakeOpa('sleep 60');
    const child = spawn('node', [join(ROOT, 'bin', 'mcp-policy.js'), 'compile', POLICY, '-o', join(fake.dir, 'out')], {
      env: { ...process.env, OPA_BIN: fake.bin },
      stdio: 'ignore',
    });
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_, signal) => r(signal)));
    // Wait until opa runs "build" (the second invocation, after "version").
    const pids = join(fake.dir, 'pids');
    for (let k = 0; k < 200 && !(existsSync(pids) && readFileSync(pids, 'utf8').trim().split('\n').length >= 2); k++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGTERM');
    expect(await exited).toBe('SIGTERM');
    expect(await groupGone(fake.dir)).toBe(true);
  });
});

describe('opa that writes nothing', () => {
  it('compile reports opa_no_output', async () => {
    const fake = fakeOpa('exit 0');
    process.env.OPA_BIN = fake.bin;
    const r = await cli(['compile', POLICY, '-o', join(fake.dir, 'out')]);
    expect(r.stderr).toBe('mcp-policy: opa build reported success but wrote no bundle (opa_no_output)\n');
    expect(r.code).toBe(2);
  });

  it.each(['opa', 'go-wasm'])('eval --engine %s reports opa_no_output', async (engine) => {
    process.env.OPA_BIN = fakeOpa('exit 0').bin;
    const r = await cli(['eval', POLICY, '--engine', engine], REQUEST);
    expect(r.stderr).toBe('mcp-policy: opa eval reported success but wrote nothing (opa_no_output)\n');
    expect(r.code).toBe(2);
  });
});

describe('a missing opa: one exit-code rule', () => {
  const commands: [string, string[], string][] = [
    ['eval --engine wasm', ['eval', POLICY, '--engine', 'wasm'], REQUEST],
    ['eval --engine opa', ['eval', POLICY, '--engine', 'opa'], REQUEST],
    ['eval --engine go-wasm', ['eval', POLICY, '--engine', 'go-wasm'], REQUEST],
    ['compile', ['compile', POLICY, '-o', join(tmpdir(), 'mcp-policy-test-never-written')], ''],
    ['config --engine opa', ['config', join(EXAMPLES, 'enterprise', 'values.yaml'), '--engine', 'opa'], ''],
    ['test --engine opa', ['test', POLICY, join(EXAMPLES, 'production.cases.json'), '--engine', 'opa'], ''],
  ];
  it.each(commands)('%s exits 2 with opa_not_found and prints no decision', async (_, args, stdin) => {
    process.env.OPA_BIN = join(tmpdir(), 'no-such-opa');
    const r = await cli(args, stdin);
    expect(r.stderr).toMatch(/^mcp-policy: OPA_BIN=.*no-such-opa is not a working opa binary; .* \(opa_not_found\)\n$/);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(2);
  });

  it('eval --engine native needs no opa', async () => {
    process.env.OPA_BIN = join(tmpdir(), 'no-such-opa');
    const r = await cli(['eval', POLICY, '--engine', 'native'], REQUEST);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ allowed: true });
  });
});

/**
 * Runs the built CLI's compile in a new user (and mount) namespace after
 * `setup` (shell), so a tmpfs can be mounted and root's privileges dropped.
 */
function compileIn(setup: string, out: string, env: Record<string, string> = {}, mapRoot = true) {
  const script = `${setup}\nexec node ${join(ROOT, 'bin', 'mcp-policy.js')} compile ${POLICY} -o ${out}`;
  const r = spawnSync('unshare', [mapRoot ? '-rm' : '-U', 'sh', '-c', script], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { code: r.status, stderr: r.stderr };
}

describe('file-system failures have codes', () => {
  const base = () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-policy-test-fs-'));
    mkdirSync(join(dir, 'mnt'));
    return dir;
  };

  it('a read-only file system: read_only_file_system', () => {
    const dir = base();
    const r = compileIn(`mount -t tmpfs -o ro tmpfs ${dir}/mnt || exit 99`, `${dir}/mnt/out`);
    expect(r.stderr).toMatch(
      /^mcp-policy: cannot create the folder ".*\/mnt": the file system is read-only|^mcp-policy: cannot write into ".*\/mnt": the file system is read-only/,
    );
    expect(r.stderr).toMatch(/\(read_only_file_system\)\n$/);
    expect(r.code).toBe(2);
  });

  it('a full disk: disk_full', () => {
    const dir = base();
    const r = compileIn(`mount -t tmpfs -o size=64k tmpfs ${dir}/mnt || exit 99`, `${dir}/mnt/out`);
    expect(r.stderr).toMatch(/^mcp-policy: cannot write ".*\/mnt\/out": the disk is full \(disk_full\)\n$/);
    expect(r.code).toBe(2);
    expect(spawnSync('ls', ['-A', `${dir}/mnt`]).stdout.toString()).toBe('');
  });

  it('a full temporary folder: disk_full', () => {
    const dir = base();
    const r = compileIn(`mount -t tmpfs -o size=16k tmpfs ${dir}/mnt || exit 99`, `${dir}/out`, {
      TMPDIR: `${dir}/mnt`,
    });
    expect(r.stderr).toMatch(/the disk is full \(disk_full\)\n$|no space left on device.*\(disk_full\)\n$/);
    expect(r.code).toBe(2);
  });

  it('an unwritable folder: permission_denied', () => {
    const dir = base();
    chmodSync(join(dir, 'mnt'), 0o555);
    // Without a root mapping the namespace's root has no privileges over the host's files.
    const r = compileIn('true', `${dir}/mnt/out`, {}, false);
    expect(r.stderr).toMatch(/^mcp-policy: cannot write into ".*\/mnt": permission denied \(permission_denied\)\n$/);
    expect(r.code).toBe(2);
  });
});
