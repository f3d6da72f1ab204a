/**
 * scripts/install-opa.mjs, the postinstall: it never fails an install, builds
 * opa only with a Go as new as tools/opa/go.mod asks, and installed as a
 * dependency builds into the user cache, where every other copy finds it.
 * The real build takes minutes, so `go` here is a stand-in that answers
 * `go version` and writes an opa that reports the pinned release; the real
 * build is what `npm ci` runs.
 */
import { execFile } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OPA_VERSION } from '../src/opa/cli.js';
import { ROOT } from './helpers.js';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A copy of the package's install script and Go module, as npm unpacks it under node_modules. */
function installedCopy(): { dir: string; pkg: string; bin: string; cache: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-policy-install-'));
  const pkg = join(dir, 'node_modules', 'mcp-policy');
  mkdirSync(join(pkg, 'scripts'), { recursive: true });
  cpSync(join(ROOT, 'scripts', 'install-opa.mjs'), join(pkg, 'scripts', 'install-opa.mjs'));
  cpSync(join(ROOT, 'tools', 'opa'), join(pkg, 'tools', 'opa'), { recursive: true });
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync('/bin/sh', join(bin, 'sh'));
  return { dir, pkg, bin, cache: join(dir, 'cache') };
}

/** A `go` that reports `release` and, asked to build, writes an opa that reports the pinned version. */
function fakeGo(bin: string, release: string): void {
  const go = join(bin, 'go');
  writeFileSync(
    go,
    [
      '#!/bin/sh',
      `if [ "$1" = version ]; then echo "go version go${release} linux/amd64"; exit 0; fi`,
      'while [ $# -gt 0 ]; do if [ "$1" = -o ]; then out=$2; fi; shift; done',
      `printf '#!/bin/sh\\necho "Version: ${OPA_VERSION}"\\n' > "$out"`,
      '/bin/chmod +x "$out"',
      '',
    ].join('\n'),
  );
  chmodSync(go, 0o755);
}

function runScript(
  copy: ReturnType<typeof installedCopy>,
  lifecycle: string | undefined,
  args: string[] = [],
): Promise<Run> {
  const { OPA_BIN: _opaBin, npm_lifecycle_event: _event, ...inherited } = process.env;
  const env = {
    ...inherited,
    PATH: copy.bin,
    XDG_CACHE_HOME: copy.cache,
    ...(lifecycle !== undefined && { npm_lifecycle_event: lifecycle }),
  };
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(copy.pkg, 'scripts', 'install-opa.mjs'), ...args],
      { cwd: copy.pkg, env },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
      },
    );
  });
}

describe('install-opa.mjs', () => {
  it('as a dependency with Go >= 1.26, builds opa into the user cache once', async () => {
    const copy = installedCopy();
    fakeGo(copy.bin, '1.26.0');
    const cached = join(copy.cache, 'mcp-policy', 'opa', OPA_VERSION, 'opa');
    const first = await runScript(copy, 'postinstall');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`mcp-policy: opa ${OPA_VERSION} installed at ${cached}\n`);
    expect(existsSync(cached)).toBe(true);
    expect(existsSync(join(copy.pkg, '.tools'))).toBe(false);
    const second = await runScript(copy, 'postinstall');
    expect(second).toEqual({
      code: 0,
      stdout: `mcp-policy: opa ${OPA_VERSION} is installed at ${cached}\n`,
      stderr: '',
    });
  });

  it('with a Go older than go.mod asks, prints one line, builds nothing and does not fail the install', async () => {
    const copy = installedCopy();
    fakeGo(copy.bin, '1.25.3');
    const r = await runScript(copy, 'postinstall');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      `mcp-policy: opa ${OPA_VERSION} is not installed (Go 1.25 is on PATH); commands on a compiled bundle and the native engine work without it, compiling a policy needs it: install Go >= 1.26 (https://go.dev/dl/) and run "npx mcp-policy setup-opa", or set OPA_BIN to an opa ${OPA_VERSION} binary\n`,
    );
    expect(existsSync(copy.cache)).toBe(false);
  });

  it('run by hand without Go, exits 3 (what setup-opa reports as opa_not_found)', async () => {
    const copy = installedCopy();
    const target = join(copy.dir, 'opa');
    const r = await runScript(copy, undefined, ['--target', target]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^mcp-policy: opa \S+ is not installed \(no Go on PATH\); /);
    expect(existsSync(target)).toBe(false);
  });
});
