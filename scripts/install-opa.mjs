#!/usr/bin/env node
// Installs the pinned opa CLI by building it from the Go module proxy
// (tools/opa/go.mod pins the release and the Go it needs). Only compiling
// needs opa: commands on a compiled bundle, and the native engine, never run it.
//
// As npm's postinstall (`npm ci`/`npm install`) it never fails the install:
// it builds opa when a Go new enough is on PATH, and otherwise prints one line
// saying what needs opa and how to get it. In a checkout opa goes to
// .tools/opa/<version>/opa; installed as a dependency, to the user cache
// folder, so that every other copy (each npx cache, each project) finds it
// there instead of building it again.
// Run by hand (`npm run setup:opa`, or `mcp-policy setup-opa`, which passes
// `--target <file>`) it fails with exit 3 when there is no usable Go and exit 1
// when the build fails. Nothing happens when a working pinned opa is already
// found where mcp-policy looks: OPA_BIN, the package's .tools/, the user cache
// folder, PATH.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const toolsModule = join(root, 'tools', 'opa');
const goMod = readFileSync(join(toolsModule, 'go.mod'), 'utf8');
const version = /^require github\.com\/open-policy-agent\/opa v(\S+)$/m.exec(goMod)?.[1];
const goNeeded = /^go (\d+)\.(\d+)/m.exec(goMod);
const postinstall = process.env.npm_lifecycle_event === 'postinstall';
const exe = process.platform === 'win32' ? 'opa.exe' : 'opa';

/** Exit status when no usable Go is on PATH (the setup-opa command tells it apart from a failed build). */
const NO_GO = 3;

function say(message) {
  console.log(`mcp-policy: ${message}`);
}

// A postinstall that fails would fail the whole `npm install`, for a tool most users never need.
function fail(message, status = 1) {
  if (postinstall) {
    say(message);
    process.exit(0);
  }
  console.error(`mcp-policy: ${message}`);
  process.exit(status);
}

if (!version || !goNeeded) fail('tools/opa/go.mod does not pin github.com/open-policy-agent/opa and a Go release');
const goMin = `${goNeeded[1]}.${goNeeded[2]}`;

/** The user cache folder mcp-policy also looks in (the same rule as src/opa/cli.ts). */
function userCacheTarget() {
  const xdg = process.env.XDG_CACHE_HOME;
  const base =
    xdg && isAbsolute(xdg)
      ? xdg
      : process.platform === 'win32' && process.env.LOCALAPPDATA
        ? process.env.LOCALAPPDATA
        : process.platform === 'darwin'
          ? join(homedir(), 'Library', 'Caches')
          : join(homedir(), '.cache');
  return join(base, 'mcp-policy', 'opa', version, exe);
}

function targetArgument() {
  const i = process.argv.indexOf('--target');
  if (i < 0) return undefined;
  const value = process.argv[i + 1];
  if (!value) fail('--target needs the path of the opa binary to write');
  return resolve(value);
}

const packageTarget = join(root, '.tools', 'opa', version, exe);
const asDependency = root.split(sep).includes('node_modules');
const target = targetArgument() ?? (postinstall && asDependency ? userCacheTarget() : packageTarget);

function versionOf(bin) {
  try {
    const out = execFileSync(bin, ['version'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    });
    return /^Version: (\S+)$/m.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

const howToGet = `install Go >= ${goMin} (https://go.dev/dl/) and run "npx mcp-policy setup-opa", or set OPA_BIN to an opa ${version} binary`;

if (process.env.OPA_BIN) {
  const found = versionOf(process.env.OPA_BIN);
  if (found !== version) {
    fail(
      `OPA_BIN=${process.env.OPA_BIN} is ${found ? `opa ${found}` : 'not a working opa'}; mcp-policy needs opa ${version} to compile policies. Unset OPA_BIN, or point it at opa ${version}.`,
    );
  }
  say(`using opa ${version} from OPA_BIN`);
  process.exit(0);
}

for (const candidate of new Set([target, packageTarget, userCacheTarget()])) {
  if (existsSync(candidate) && versionOf(candidate) === version) {
    say(`opa ${version} is installed at ${candidate}`);
    process.exit(0);
  }
}
if (versionOf('opa') === version) {
  say(`using opa ${version} from PATH`);
  process.exit(0);
}

/** The Go release on PATH as [major, minor], or undefined when there is none. */
function goRelease() {
  try {
    const out = execFileSync('go', ['version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const m = /\bgo(\d+)\.(\d+)/.exec(out);
    return m ? [Number(m[1]), Number(m[2])] : undefined;
  } catch {
    return undefined;
  }
}

const go = goRelease();
const [needMajor, needMinor] = goMin.split('.').map(Number);
if (!go || go[0] < needMajor || (go[0] === needMajor && go[1] < needMinor)) {
  const found = go ? `Go ${go.join('.')} is on PATH` : 'no Go on PATH';
  fail(
    `opa ${version} is not installed (${found}); commands on a compiled bundle and the native engine work without it, compiling a policy needs it: ${howToGet}`,
    NO_GO,
  );
}

say(`building opa ${version} with Go ${go.join('.')} into ${target} (once; takes a few minutes)...`);
const partial = `${target}.partial-${process.pid}`;
try {
  mkdirSync(dirname(target), { recursive: true });
  // opa_wasm enables `opa eval -t wasm` (a pure-Go runtime); -trimpath keeps the binary independent of this checkout.
  execFileSync('go', ['build', '-tags', 'opa_wasm', '-trimpath', '-o', partial, 'github.com/open-policy-agent/opa'], {
    cwd: toolsModule,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' },
  });
} catch {
  rmSync(partial, { force: true });
  fail(`building opa ${version} into ${target} failed (see above); retry with "npx mcp-policy setup-opa"`);
}
const built = versionOf(partial);
if (built !== version) {
  rmSync(partial, { force: true });
  fail(`the opa that was built reports version ${built ?? 'unknown'}, expected ${version}`);
}
renameSync(partial, target);
say(`opa ${version} installed at ${target}`);
