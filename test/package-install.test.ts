/**
 * The published package as a new user gets it: `npm pack`, then `npm install
 * <tarball>` into a fresh project whose PATH has no Go and no opa. The install
 * succeeds, everything that does not compile works from a bundle (or with the
 * native engine), and compiling stops with a coded error naming the fix; an
 * opa in the user cache folder is then found.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localOpaPath, OPA_VERSION } from '../src/opa/cli.js';
import { EXAMPLES, ROOT } from './helpers.js';
import { call } from './serve-helpers.js';

const FILESYSTEM = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-filesystem', 'dist', 'index.js');
const PRODUCTION = join(EXAMPLES, 'production.json');
/** Packing, installing from the npm cache and a dozen npx runs; generous for a loaded 2-core machine. */
const TIMEOUT_MS = 240_000;

const ALLOWLIST = {
  version: 1,
  default: 'deny',
  rules: [
    { action: 'load', server: 'filesystem', tools: ['read_*', 'list_*'], allow: true },
    { action: 'load', server: 'filesystem', tools: ['*'], allow: false, reason: 'not on the allowlist' },
    { action: 'load', server: 'filesystem', allow: true },
  ],
};

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

let work: string;
let app: string;
let env: NodeJS.ProcessEnv;
let installOutput: string;

function run(command: string, args: readonly string[], cwd: string, options: { env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<Run>((resolve) => {
    execFile(
      command,
      [...args],
      { cwd, env: options.env ?? env, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `npx mcp-policy …` in the fresh project. */
function npx(...args: string[]): Promise<Run> {
  return run('npx', ['mcp-policy', ...args], app);
}

/** A PATH of node, npm, npx and sh only: no go, no opa. */
/**
 * A command as the user's shell finds it, past the project's own
 * node_modules/.bin (where a Node binary package may link `node` without
 * npm beside it); else next to the running Node.
 */
function userCommand(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '' || dir.split(/[\\/]/).includes('node_modules')) continue;
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  return join(dirname(process.execPath), name);
}

function barePath(): string {
  const bin = join(work, 'bin');
  mkdirSync(bin);
  const tools: Record<string, string> = {
    node: process.execPath,
    npm: userCommand('npm'),
    npx: userCommand('npx'),
    sh: '/bin/sh',
  };
  for (const [name, target] of Object.entries(tools)) symlinkSync(target, join(bin, name));
  return bin;
}

/** Resolves once `child` has written `pattern` to stderr; rejects with its stderr when it exits first. */
function stderrLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      if (pattern.test(err)) resolve(err);
    });
    child.once('exit', (code) => reject(new Error(`exited ${String(code)} before ${String(pattern)}: ${err}`)));
  });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'mcp-policy-package-'));
  const build = await run(
    process.execPath,
    [join(ROOT, 'bin', 'mcp-policy.js'), 'compile', PRODUCTION, '-o', join(work, 'out')],
    ROOT,
    {
      env: process.env,
    },
  );
  expect(build.stderr).toBe('');
  copyFileSync(join(work, 'out', 'bundle.tar.gz'), join(work, 'bundle.tar.gz'));
  const allowlist = join(work, 'allowlist');
  mkdirSync(allowlist);
  writeFileSync(join(allowlist, 'policy.json'), JSON.stringify(ALLOWLIST));
  const allowBuild = await run(
    process.execPath,
    [join(ROOT, 'bin', 'mcp-policy.js'), 'compile', join(allowlist, 'policy.json'), '-o', join(allowlist, 'out')],
    ROOT,
    {
      env: process.env,
    },
  );
  expect(allowBuild.stderr).toBe('');

  // dist/ is built by `npm test`'s pretest (or by hand before a targeted run), so packing needs no prepare.
  const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT, {
    env: process.env,
  });
  expect(pack.code, pack.stderr).toBe(0);
  const tarball = join(work, (JSON.parse(pack.stdout) as { filename: string }[])[0]!.filename);

  const { OPA_BIN: _opaBin, ...inherited } = process.env;
  env = { ...inherited, PATH: barePath(), XDG_CACHE_HOME: join(work, 'cache') };
  app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  writeFileSync(join(app, 'r.json'), '{"action":"invoke","server":"fs","tool":"delete_file"}\n');
  writeFileSync(
    join(app, 'r.jsonl'),
    '{"action":"invoke","server":"fs","tool":"delete_file"}\n{"action":"load","server":"x","serverType":"remote"}\n',
  );
  const install = await run(
    'npm',
    ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts'],
    app,
  );
  installOutput = install.stdout + install.stderr;
  expect(install.code, installOutput).toBe(0);
}, TIMEOUT_MS);

// The installed project holds a full node_modules; it is not left behind.
afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('the packed package installed with no Go on PATH', () => {
  it('installs, and its postinstall says in one line what needs opa and how to get it', () => {
    const lines = installOutput.split('\n').filter((l) => l.startsWith('mcp-policy: '));
    expect(lines).toEqual([
      `mcp-policy: opa ${OPA_VERSION} is not installed (no Go on PATH); commands on a compiled bundle and the native engine work without it, compiling a policy needs it: install Go >= 1.26 (https://go.dev/dl/) and run "npx mcp-policy setup-opa", or set OPA_BIN to an opa ${OPA_VERSION} binary`,
    ]);
    expect(readdirSync(join(app, 'node_modules', 'mcp-policy'))).not.toContain('.tools');
  });

  it(
    'evaluates a bundle, and a policy file with the native engine',
    async () => {
      const expected =
        '{"allowed":false,"reason":"Block destructive operations across all servers","rule":2}\n' +
        '{"allowed":false,"reason":"Block remote servers for security","rule":3}\n';
      const onBundle = await npx('eval', join(work, 'bundle.tar.gz'), '--input', 'r.jsonl');
      expect(onBundle).toEqual({ code: 0, stdout: expected, stderr: '' });
      const native = await npx('eval', PRODUCTION, '--engine', 'native', '--input', 'r.jsonl');
      expect(native).toEqual({ code: 0, stdout: expected, stderr: '' });
    },
    TIMEOUT_MS,
  );

  it(
    'checks, lints, diffs, explains and tests without opa',
    async () => {
      expect((await npx('check', PRODUCTION)).code).toBe(0);
      expect((await npx('lint', PRODUCTION)).code).toBe(0);
      const diff = await npx('diff', PRODUCTION, join(work, 'allowlist', 'policy.json'));
      expect(diff.code, diff.stderr).toBe(1);
      const explain = await npx('explain', PRODUCTION, '--input', 'r.json');
      expect(explain.stderr).toBe('');
      expect(explain.stdout).toMatch(/decision: .*"rule":2/);
      const cases = join(EXAMPLES, 'production.cases.json');
      const test = await npx('test', PRODUCTION, cases, '--engine', 'native');
      expect(test, test.stderr).toMatchObject({ code: 0, stderr: '' });
      const onBundle = await npx('test', join(work, 'bundle.tar.gz'), cases);
      expect(onBundle).toEqual({ code: 0, stdout: 'test: 17 cases on wasm, 0 failures\n', stderr: '' });
    },
    TIMEOUT_MS,
  );

  it(
    'serves a bundle on a unix socket and stops on SIGTERM',
    async () => {
      const socket = join(work, 's.sock');
      // Its own process group: npx does not pass SIGTERM on to the command it runs, a terminal's group signal does.
      const child = spawn('npx', ['mcp-policy', 'serve', join(work, 'bundle.tar.gz'), '--socket', socket], {
        cwd: app,
        env,
        detached: true,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      // stderr closes once every process holding it, the service itself included, has exited.
      const closed = new Promise<void>((resolve) => child.stderr!.once('close', () => resolve()));
      let err: string;
      try {
        err = await stderrLine(child, /listening on unix:/);
        expect((await call({ socket }, 'GET', '/ping')).status).toBe(200);
        const decision = await call({ socket }, 'POST', '/mcp/policy/evaluate', {
          action: 'invoke',
          server: 'fs',
          tool: 'delete_file',
        });
        expect(decision.json()).toEqual({ allowed: false, reason: 'Block destructive operations across all servers' });
      } finally {
        try {
          process.kill(-child.pid!, 'SIGTERM');
        } catch {
          // The group is gone already: the failure above says why.
        }
      }
      let rest = '';
      child.stderr!.on('data', (c: Buffer) => (rest += c.toString()));
      await closed;
      expect(err + rest).toContain('mcp-policy serve: SIGTERM: finishing in-flight requests\n');
      expect(existsSync(socket)).toBe(false);
    },
    TIMEOUT_MS,
  );

  it(
    'proxies an MCP server over stdio from a bundle',
    async () => {
      const transport = new StdioClientTransport({
        command: 'npx',
        args: [
          'mcp-policy',
          'proxy',
          join(work, 'allowlist', 'out', 'bundle.tar.gz'),
          '--',
          process.execPath,
          FILESYSTEM,
          work,
        ],
        cwd: app,
        env: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)),
        stderr: 'pipe',
      });
      const client = new Client({ name: 'package-install-test', version: '1.0.0' });
      await client.connect(transport);
      try {
        const tools = (await client.listTools()).tools.map((t) => t.name);
        expect(tools).toContain('read_text_file');
        expect(tools).not.toContain('write_file');
        expect(tools.every((t) => /^(read|list)_/.test(t))).toBe(true);
      } finally {
        await client.close();
      }
    },
    TIMEOUT_MS,
  );

  it(
    'stops compile and setup-opa with opa_not_found naming the fix, and finds an opa in the user cache',
    async () => {
      const compile = await npx('compile', PRODUCTION, '-o', 'out');
      expect(compile.code).toBe(2);
      expect(compile.stderr).toBe(
        `mcp-policy: opa ${OPA_VERSION} is not installed; only compiling a policy needs it (commands on a compiled bundle and the native engine do not); run "npx mcp-policy setup-opa" (builds opa ${OPA_VERSION} with Go >= 1.26), or set OPA_BIN to an opa ${OPA_VERSION} binary (opa_not_found)\n`,
      );
      const setup = await npx('setup-opa');
      expect(setup.code).toBe(2);
      expect(setup.stderr).toMatch(
        /^mcp-policy: opa \S+ is not installed \(no Go on PATH\); .*Go >= 1\.26.* \(opa_not_found\)\n$/,
      );

      const cached = join(work, 'cache', 'mcp-policy', 'opa', OPA_VERSION, 'opa');
      mkdirSync(dirname(cached), { recursive: true });
      copyFileSync(localOpaPath(), cached);
      const again = await npx('compile', PRODUCTION, '-o', 'out');
      expect(again, again.stderr).toMatchObject({ code: 0 });
      expect(readdirSync(join(app, 'out'))).toContain('bundle.tar.gz');
    },
    TIMEOUT_MS,
  );
});
