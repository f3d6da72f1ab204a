#!/usr/bin/env node
// Installs the pinned opa CLI into .tools/opa/<version>/opa by building it
// from the Go module proxy (tools/opa/go.mod pins the release). Runs on
// `npm ci`/`npm install`; does nothing when the right binary is already there
// or when OPA_BIN names one. Needs Go; opa's wasm compiler needs no cgo.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const toolsModule = join(root, 'tools', 'opa');
const goMod = readFileSync(join(toolsModule, 'go.mod'), 'utf8');
const match = /^require github\.com\/open-policy-agent\/opa v(\S+)$/m.exec(goMod);
if (!match) fail('tools/opa/go.mod does not pin github.com/open-policy-agent/opa');
const version = match[1];
const target = join(root, '.tools', 'opa', version, process.platform === 'win32' ? 'opa.exe' : 'opa');

function fail(message) {
  console.error(`mcp-policy: ${message}`);
  process.exit(1);
}

function versionOf(bin) {
  try {
    const out = execFileSync(bin, ['version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return /^Version: (\S+)$/m.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

if (process.env.OPA_BIN) {
  const found = versionOf(process.env.OPA_BIN);
  if (found !== version) {
    fail(
      `OPA_BIN=${process.env.OPA_BIN} is ${found ? `opa ${found}` : 'not a working opa'}; mcp-policy needs opa ${version}. Unset OPA_BIN to build it here.`,
    );
  }
  console.log(`mcp-policy: using opa ${version} from OPA_BIN`);
  process.exit(0);
}

if (existsSync(target) && versionOf(target) === version) {
  console.log(`mcp-policy: opa ${version} is installed at ${target}`);
  process.exit(0);
}

try {
  execFileSync('go', ['version'], { stdio: 'ignore' });
} catch {
  fail(
    `building opa ${version} needs Go (https://go.dev/dl/), which is not on PATH. Install Go, or set OPA_BIN to an opa ${version} binary, then run "npm run setup:opa".`,
  );
}

console.log(`mcp-policy: building opa ${version} with Go (first install only, takes a few minutes)...`);
mkdirSync(dirname(target), { recursive: true });
const partial = `${target}.partial-${process.pid}`;
try {
  // opa_wasm enables `opa eval -t wasm` (a pure-Go runtime); -trimpath keeps the binary independent of this checkout.
  execFileSync('go', ['build', '-tags', 'opa_wasm', '-trimpath', '-o', partial, 'github.com/open-policy-agent/opa'], {
    cwd: toolsModule,
    stdio: 'inherit',
    env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' },
  });
} catch {
  rmSync(partial, { force: true });
  fail(`go build of opa ${version} failed (see above). Run "npm run setup:opa" to retry.`);
}
const built = versionOf(partial);
if (built !== version) {
  rmSync(partial, { force: true });
  fail(`the opa that was built reports version ${built ?? 'unknown'}, expected ${version}`);
}
renameSync(partial, target);
console.log(`mcp-policy: opa ${version} installed at ${target}`);
