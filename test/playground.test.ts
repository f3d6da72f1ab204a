/**
 * The playground (`mcp-policy playground` and its static build) in Debian's
 * chromium driven by playwright-core: one browser and one server for the
 * file. What the page shows is compared with what the CLI prints for the
 * same policy and requests.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import fc from 'fast-check';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchPolicy } from '../scripts/bench-policies.js';
import { renderBox, type BoxDescription } from '../src/analysis/region.js';
import { requestFor } from '../src/difftest/generators.js';
import { WasmEngine } from '../src/engines/wasm.js';
import { cli, EXAMPLES, mustParse, ROOT, tempFile } from './helpers.js';
import { CLI, stop, tempDir } from './proxy/helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'];
const STATIC_ROOT = join(ROOT, 'dist', 'playground');
const ARTIFACTS = join(ROOT, 'test-artifacts', 'playground');
const PRODUCTION = join(EXAMPLES, 'production.json');

let browser: Browser;
let context: BrowserContext;
let playground: ChildProcess;
let base: string;
let staticServer: Server;
let staticBase: string;

/** Starts `mcp-policy playground` on a free loopback port; resolves with its URL once it says where it listens. */
function startPlayground(file: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [CLI, 'playground', file, '--addr', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /playground: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => reject(new Error(`playground exited with ${code}: ${err}`)));
  });
}

function staticFiles(): Promise<Server> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
  const server = createServer((req, res) => {
    let path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^[/\\]+/, '');
    if (path === '' || path.endsWith('/')) path += 'index.html';
    if (path.split(/[/\\]/).includes('..')) {
      res.writeHead(404);
      return res.end();
    }
    readFile(join(STATIC_ROOT, path)).then(
      (body) => {
        res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' });
        res.end(body);
      },
      () => {
        res.writeHead(404);
        res.end();
      },
    );
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

beforeAll(async () => {
  if (!existsSync(join(STATIC_ROOT, 'app.js'))) {
    throw new Error('dist/playground/ is missing: run npm run build (pretest does) before this file');
  }
  execFileSync('bash', [join(ROOT, 'scripts', 'setup-browser.sh')], { stdio: 'inherit' });
  mkdirSync(ARTIFACTS, { recursive: true });
  const started = await startPlayground(PRODUCTION);
  playground = started.child;
  base = started.url;
  staticServer = await staticFiles();
  staticBase = `http://127.0.0.1:${(staticServer.address() as AddressInfo).port}/`;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 1000 } });
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  if (playground) await stop(playground);
  await new Promise<void>((resolve) => (staticServer ? staticServer.close(() => resolve()) : resolve()));
});

/** Opens the page and waits until it has checked its first document. */
async function open(url = base): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, errors };
}

/** Replaces the editor's text as typing would (one input event), then waits for the page to check it. */
async function setPolicy(page: Page, text: string): Promise<void> {
  await page.click('.cm-content');
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(text);
  await waitChecked(page);
}

async function waitChecked(page: Page): Promise<void> {
  await page.waitForSelector('body[data-checked]:not([data-checked="pending"])', { state: 'attached' });
}

async function shot(page: Page, name: string): Promise<void> {
  // From the top, so the sticky editor is drawn where it starts.
  await page.evaluate('window.scrollTo(0, 0)');
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The decisions in the saved-requests table, per column. */
async function savedDecisions(page: Page, column: 'native' | 'wasm'): Promise<unknown[]> {
  await page.waitForSelector('#saved[data-state="done"]');
  return page.$$eval(`#saved tbody td.${column}`, (cells) =>
    cells.map((c) => {
      const decision = c.getAttribute('data-decision');
      return decision ? (JSON.parse(decision) as unknown) : c.textContent;
    }),
  );
}

const TYPO = `{
  "version": 1,
  "default": "deny",
  "rules": [
    { "acton": "load", "server": "github", "allow": true }
  ]
}
`;

const SHADOWED = `{
  "version": 1,
  "default": "deny",
  "rules": [
    { "action": "invoke", "server": "github", "allow": true, "reason": "GitHub tools" },
    { "action": "invoke", "server": "github", "tools": ["delete_*"], "deny": true, "reason": "No deletes" }
  ]
}
`;

describe('the editor', () => {
  it('underlines a typo at its line with the code and "did you mean" that check prints', async () => {
    const { page, errors } = await open();
    await setPolicy(page, TYPO);
    const problem = page.locator('#problems li[data-code]');
    await problem.first().waitFor();
    const shown = await problem.allTextContents();
    const file = tempFile('typo.json', TYPO);
    const check = await cli(['check', file, '--format', 'json']);
    expect(check.code).toBe(1);
    const cliErrors = (
      JSON.parse(check.stdout) as { errors: { code: string; message: string; line: number; column: number }[] }
    ).errors;
    expect(cliErrors.length).toBeGreaterThan(0);
    expect(shown).toHaveLength(cliErrors.length);
    for (const [i, e] of cliErrors.entries()) {
      expect(shown[i]).toContain(`line ${e.line}, column ${e.column}`);
      expect(shown[i]).toContain(`${e.message} (${e.code})`);
    }
    expect(shown[0]).toMatch(/^line 5, .*did you mean "action"/);
    expect(await problem.first().getAttribute('data-line')).toBe('5');
    // The underline sits on line 5 of the editor, over the misspelt key.
    const underlined = (await page.evaluate(`[...document.querySelectorAll('.cm-lintRange-error')].map((el) => ({
      text: el.textContent,
      line: [...document.querySelectorAll('.cm-content .cm-line')].findIndex((l) => l.contains(el)) + 1,
    }))`)) as { text: string; line: number }[];
    expect(underlined.some((u) => u.line === 5 && u.text.includes('acton'))).toBe(true);
    await shot(page, 'typo');
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe('the editor with YAML and the schemas', () => {
  it('locates a version 2 YAML typo, completes keys and values from the schema and shows a key description', async () => {
    const { page } = await open();
    const yaml =
      'version: 2\ndefault: deny\nrules:\n  - action: invoke\n    tools: [read_file]\n    argumets: []\n    allow: true\n';
    await setPolicy(page, yaml);
    const problem = page.locator('#problems li[data-code]').first();
    await problem.waitFor();
    const check = JSON.parse((await cli(['check', tempFile('typo.yaml', yaml), '--format', 'json'])).stdout) as {
      errors: { line: number; column: number; message: string; code: string }[];
    };
    const first = check.errors[0]!;
    expect(first.message).toContain('did you mean "arguments"');
    expect(await problem.textContent()).toBe(
      `line ${first.line}, column ${first.column}: error /rules/0/argumets: ${first.message} (${first.code})`,
    );
    expect(await page.textContent('#document-summary')).toMatch(/^YAML policy: /);
    // Completion of a rule's keys under the sequence item, then of serverType's values.
    await page.keyboard.press('Control+End');
    await page.keyboard.type('    serv');
    await page.waitForSelector('.cm-tooltip-autocomplete');
    expect((await page.$$eval('.cm-completionLabel', (ls) => ls.map((l) => l.textContent))).sort()).toEqual([
      'server',
      'serverSource',
      'serverType',
    ]);
    await page.keyboard.press('Escape');
    await page.keyboard.type('erType: ');
    await page.keyboard.press('Control+Space');
    await page.waitForSelector('.cm-tooltip-autocomplete');
    expect((await page.$$eval('.cm-completionLabel', (ls) => ls.map((l) => l.textContent))).sort()).toEqual([
      'image',
      'registry',
      'remote',
    ]);
    await page.keyboard.press('Escape');
    await page.locator('.cm-line', { hasText: 'default: deny' }).getByText('default').first().hover();
    await page.waitForSelector('.schema-hover');
    expect(await page.textContent('.schema-hover')).toBe(
      'default: string, one of "allow", "deny": The decision when no rule matches.',
    );
    await page.close();
  });
});

describe('lint and explain', () => {
  it('lists a shadowed rule with its witness, and clicking it explains every rule for the witness', async () => {
    const { page } = await open();
    await setPolicy(page, SHADOWED);
    const finding = page.locator('#lint button.finding[data-code="shadowed_rule"]');
    await finding.waitFor();
    expect(await finding.getAttribute('data-path')).toBe('/rules/1');
    const lint = JSON.parse((await cli(['lint', tempFile('shadowed.json', SHADOWED), '--format', 'json'])).stdout) as {
      findings: { code: string; path: string; witness?: unknown }[];
    };
    const expected = lint.findings.find((f) => f.code === 'shadowed_rule')!;
    expect(
      await page
        .locator('#lint li', { has: page.locator('button.finding[data-code="shadowed_rule"]') })
        .locator('.witness')
        .textContent(),
    ).toBe(`e.g. ${JSON.stringify(expected.witness)}`);
    await finding.click();
    await page.waitForSelector('#explain-table');
    const rows = await page.$$eval('#explain-table tbody tr', (trs) =>
      trs.map((tr) => [...tr.children].map((c) => c.textContent)),
    );
    const explain = JSON.parse(
      (
        await cli(
          ['explain', tempFile('shadowed.json', SHADOWED), '--input', '-', '--format', 'json'],
          JSON.stringify(expected.witness),
        )
      ).stdout,
    ) as { rules: { rule: number; matched: boolean; decided: boolean }[]; decision: { rule: number | null } };
    expect(rows).toHaveLength(2);
    expect(rows[0]).toEqual(['rule 0', 'decided', '']);
    expect(rows[1]).toEqual(['rule 1', 'matched (not consulted)', '']);
    expect(explain.rules.map((r) => [r.matched, r.decided])).toEqual([
      [true, true],
      [true, false],
    ]);
    expect(await page.textContent('#explain-decision')).toBe('decision: allow (rule 0): GitHub tools');
    // A request that fails a field shows which one and why.
    await page.fill('#raw-request', JSON.stringify({ action: 'load', server: 'github' }));
    await page.click('#decide');
    await page.waitForSelector('#decision[data-state="done"]');
    const failing = JSON.parse(
      (
        await cli(
          ['explain', tempFile('shadowed.json', SHADOWED), '--input', '-', '--format', 'json'],
          JSON.stringify({ action: 'load', server: 'github' }),
        )
      ).stdout,
    ) as { rules: { failed: { field: string; message: string }[] }[] };
    expect(await page.$$eval('#explain-table tbody tr td:last-child', (tds) => tds.map((t) => t.textContent))).toEqual(
      failing.rules.map((r) => r.failed.map((m) => `${m.field}: ${m.message}`).join('; ')),
    );
    expect(failing.rules[1]!.failed.map((m) => m.field)).toContain('action');
    await shot(page, 'lint-explain');
    await page.screenshot({ path: join(ARTIFACTS, 'main.png') });
    await page.close();
  });
});

describe('try requests', () => {
  it('decides 60 generated requests natively and in wasm exactly as mcp-policy eval does', async () => {
    const policyText = readFileSync(PRODUCTION, 'utf8');
    const requests = fc.sample(requestFor(mustParse(policyText)), { seed: 20261206, numRuns: 60 });
    const jsonl = `${requests.map((r) => JSON.stringify(r)).join('\n')}\n`;
    const { page, errors } = await open();
    await page.click('details summary');
    await page.fill('#bulk-requests', jsonl);
    await page.click('#add-bulk');
    await page.waitForSelector(`#saved tbody tr:nth-child(${requests.length})`);
    const native = await savedDecisions(page, 'native');
    const wasm = await savedDecisions(page, 'wasm');
    const input = tempFile('requests.jsonl', jsonl);
    const parse = (out: string) =>
      out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown);
    const cliWasm = parse((await cli(['eval', PRODUCTION, '--input', input])).stdout);
    const cliNative = parse((await cli(['eval', PRODUCTION, '--input', input, '--engine', 'native'])).stdout);
    expect(cliWasm).toHaveLength(60);
    expect(native).toEqual(cliNative);
    expect(wasm).toEqual(cliWasm);
    expect(await page.isHidden('#disagreement')).toBe(true);
    // The coverage table counts the same requests per rule.
    const counts = await page.$$eval('#coverage-table tbody tr td:nth-child(3)', (tds) =>
      tds.map((t) => Number(t.textContent)),
    );
    const decided = cliNative as { rule: number | null; error?: string }[];
    const rules = mustParse(policyText).rules.length;
    expect(counts).toEqual([
      ...Array.from({ length: rules }, (_, i) => decided.filter((d) => d.rule === i).length),
      decided.filter((d) => d.rule === null && d.error === undefined).length,
    ]);
    await shot(page, 'try-requests');
    // The saved requests download as a case table that mcp-policy test passes on every engine.
    const [cases] = await Promise.all([page.waitForEvent('download'), page.click('#download-cases')]);
    const casesFile = join(tempDir('mcp-policy-playground-'), 'cases.json');
    await cases.saveAs(casesFile);
    const table = JSON.parse(readFileSync(casesFile, 'utf8')) as { requests: { request: unknown }[] };
    expect(table.requests.map((c) => c.request)).toEqual(requests);
    const tested = await cli(['test', PRODUCTION, casesFile, '--engine', 'native,wasm']);
    expect(tested.code, tested.stdout + tested.stderr).toBe(0);
    // One request through the form: the decision shows in both columns.
    await page.fill('#raw-request', '{}');
    await page.selectOption('#f-action', 'invoke');
    await page.fill('#f-server', 'github');
    await page.fill('#f-tool', 'delete_repository');
    await page.click('#decide');
    await page.waitForSelector('#decision[data-state="done"]');
    const one = { action: 'invoke', server: 'github', tool: 'delete_repository' };
    const expected = JSON.parse((await cli(['eval', PRODUCTION], JSON.stringify(one))).stdout) as unknown;
    expect(JSON.parse((await page.getAttribute('#native-decision', 'data-decision'))!)).toEqual(expected);
    expect(JSON.parse((await page.getAttribute('#wasm-decision', 'data-decision'))!)).toEqual(expected);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('flags loudly when the wasm decision differs from the native one', async () => {
    const { page } = await open();
    // A server whose bundle answered differently: every wasm decision comes back with the opposite outcome.
    await page.route('**/api/decide', async (route) => {
      const response = await route.fetch();
      const body = (await response.json()) as { decisions: { allowed: boolean }[] };
      body.decisions = body.decisions.map((d) => ({ ...d, allowed: !d.allowed }));
      await route.fulfill({ response, json: body });
    });
    await page.fill('#raw-request', JSON.stringify({ action: 'invoke', server: 'github', tool: 'delete_repository' }));
    await page.click('#decide');
    await page.waitForSelector('#decision[data-state="done"]');
    expect(await page.isVisible('#disagreement')).toBe(true);
    expect(await page.getAttribute('#disagreement', 'role')).toBe('alert');
    expect(await page.textContent('#disagreement')).toBe(
      'ENGINES DISAGREE: native says deny (rule 2): Block destructive operations across all servers, ' +
        'wasm says allow (rule 2): Block destructive operations across all servers',
    );
    await page.close();
  });
});

describe('analysis in a worker', () => {
  it('shows a typed character while a policy of 1,000 rules is still being analysed, then only the latest analysis', async () => {
    const { page, errors } = await open();
    const before = await page.getAttribute('body', 'data-checked');
    // Imported as a file, as an admin would open one: one edit of the whole text.
    await page.setInputFiles('#import-file', tempFile('large.json', JSON.stringify(benchPolicy(1000).policy, null, 2)));
    await page.waitForSelector('body[data-analysing]', { state: 'attached' });
    expect(await page.getAttribute('#analysis-status', 'aria-live')).toBe('polite');
    expect(await page.textContent('#analysis-status')).toBe('checking…');
    // Into the first rule's reason, which keeps the policy valid (and as costly to lint).
    const reasonLine = page.locator('.cm-line', { hasText: '"reason"' }).first();
    const line = (await reasonLine.textContent())!;
    await reasonLine.click();
    await page.keyboard.press('End');
    for (let i = line.lastIndexOf('"'); i < line.length; i++) await page.keyboard.press('ArrowLeft');
    await page.keyboard.type('Z');
    const seen = (await page.evaluate(`({
      line: document.querySelector('.cm-activeLine')?.textContent,
      checked: document.body.dataset.checked,
      status: document.getElementById('analysis-status').textContent,
    })`)) as { line: string; checked: string; status: string };
    const at = line.lastIndexOf('"');
    expect(seen).toEqual({ line: `${line.slice(0, at)}Z${line.slice(at)}`, checked: 'pending', status: 'checking…' });
    // A new text replaces the analyses still running: only its own is ever shown.
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(SHADOWED);
    await waitChecked(page);
    expect(await page.getAttribute('body', 'data-checked')).toBe(String(Number(before) + 1));
    expect(await page.textContent('#analysis-status')).toBe('checked');
    expect(await page.textContent('#document-summary')).toBe('valid JSON policy, version 1: 2 rules, default deny');
    await page.waitForSelector('#lint button.finding[data-code="shadowed_rule"]');
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe('version 2 requests from the form', () => {
  const V2 = `${JSON.stringify(
    {
      version: 2,
      default: 'deny',
      rules: [
        { action: 'invoke', annotations: { destructiveHint: true }, deny: true, reason: 'No destructive tools' },
        {
          action: 'invoke',
          tools: ['read_file'],
          claims: { org: ['acme'], roles: ['ops'] },
          arguments: [{ path: '/path', match: ['/srv/projects/*'], normalize: 'path' }],
          allow: true,
          reason: 'Project files for acme operators',
        },
      ],
    },
    null,
    2,
  )}\n`;

  it('builds claims, arguments and annotations from labelled fields and decides as mcp-policy eval does', async () => {
    const { page, errors } = await open();
    await setPolicy(page, V2);
    const file = tempFile('v2.json', V2);
    await page.fill('#raw-request', '{}');
    await page.selectOption('#f-action', 'invoke');
    await page.fill('#f-server', 'filesystem');
    await page.fill('#f-tool', 'read_file');
    await page.fill('#f-sub', 'alice@example.com');
    await page.fill('#f-claims', 'org=acme\nroles=dev\nroles=ops');
    await page.fill('#f-arguments', '{"path": "/srv/projects/../projects/a.txt"');
    expect(await page.textContent('#f-arguments-error')).toMatch(/^arguments are not JSON: /);
    await page.fill('#f-arguments', '{"path": "/srv/projects/../projects/a.txt"}');
    expect(await page.textContent('#f-arguments-error')).toBe('');
    await page.selectOption('#f-readOnlyHint', 'true');
    const decide = async (request: unknown) => {
      expect(JSON.parse(await page.inputValue('#raw-request'))).toEqual(request);
      await page.click('#decide');
      await page.waitForSelector('#decision[data-state="done"]');
      const native = JSON.parse((await page.getAttribute('#native-decision', 'data-decision'))!) as unknown;
      const wasm = JSON.parse((await page.getAttribute('#wasm-decision', 'data-decision'))!) as unknown;
      const cliNative = JSON.parse(
        (await cli(['eval', file, '--engine', 'native'], JSON.stringify(request))).stdout,
      ) as unknown;
      const cliWasm = JSON.parse((await cli(['eval', file], JSON.stringify(request))).stdout) as unknown;
      expect(native).toEqual(cliNative);
      expect(wasm).toEqual(cliWasm);
      return native as { allowed: boolean; rule: number | null };
    };
    const request = {
      action: 'invoke',
      server: 'filesystem',
      tool: 'read_file',
      principal: { sub: 'alice@example.com', claims: { org: 'acme', roles: ['dev', 'ops'] } },
      arguments: { path: '/srv/projects/../projects/a.txt' },
      annotations: { readOnlyHint: true },
    };
    expect(await decide(request)).toMatchObject({ allowed: true, rule: 1 });
    // A declared destructive tool, then one that declares nothing (destructive by MCP's default).
    await page.selectOption('#f-destructiveHint', 'true');
    expect(await decide({ ...request, annotations: { readOnlyHint: true, destructiveHint: true } })).toMatchObject({
      allowed: false,
      rule: 0,
    });
    await page.selectOption('#f-destructiveHint', '');
    await page.selectOption('#f-readOnlyHint', '');
    const { annotations: _, ...undeclared } = request;
    expect(await decide(undeclared)).toMatchObject({ allowed: false, rule: 0 });
    // Without the operator role the claims no longer match.
    await page.selectOption('#f-readOnlyHint', 'true');
    await page.fill('#f-claims', 'org=acme\nroles=dev');
    expect(
      await decide({ ...request, principal: { sub: 'alice@example.com', claims: { org: 'acme', roles: 'dev' } } }),
    ).toMatchObject({ allowed: false, rule: null });
    // A request pasted as JSON fills the form back.
    await page.fill('#raw-request', JSON.stringify(request));
    await page.dispatchEvent('#raw-request', 'input');
    expect(await page.inputValue('#f-claims')).toBe('org=acme\nroles=dev\nroles=ops');
    expect(JSON.parse(await page.inputValue('#f-arguments'))).toEqual(request.arguments);
    expect(await page.inputValue('#f-readOnlyHint')).toBe('true');
    expect(await page.inputValue('#f-openWorldHint')).toBe('');
    await shot(page, 'v2-request');
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe('ship it', () => {
  it('downloads a locked admin-settings.json that check accepts and that decides as the policy does', async () => {
    const { page } = await open();
    await page.check('#locked');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-admin-settings')]);
    expect(download.suggestedFilename()).toBe('admin-settings.json');
    const file = join(tempDir('mcp-policy-playground-'), 'admin-settings.json');
    await download.saveAs(file);
    const settings = JSON.parse(readFileSync(file, 'utf8')) as { mcpPolicy: { locked: boolean; value: string } };
    expect(settings.mcpPolicy.locked).toBe(true);
    expect(JSON.parse(settings.mcpPolicy.value)).toEqual(JSON.parse(readFileSync(PRODUCTION, 'utf8')));
    const check = await cli(['check', file]);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('valid (admin-settings.json)');
    const requests = fc.sample(requestFor(mustParse(readFileSync(PRODUCTION, 'utf8'))), { seed: 7, numRuns: 30 });
    const input = tempFile('requests.jsonl', requests.map((r) => JSON.stringify(r)).join('\n'));
    const fromSettings = await cli(['eval', file, '--input', input, '--engine', 'native']);
    const fromPolicy = await cli(['eval', PRODUCTION, '--input', input, '--engine', 'native']);
    expect(fromSettings.stdout).toBe(fromPolicy.stdout);
    await page.close();
  });

  it('compiles the policy with the local server and downloads the bundle whose revision it shows', async () => {
    const { page } = await open();
    await page.click('#compile');
    await page.waitForSelector('#download-bundle:not([disabled])');
    const revision = /^compiled: revision ([0-9a-f]+) /.exec((await page.textContent('#ship-status'))!)?.[1];
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-bundle')]);
    expect(download.suggestedFilename()).toBe('bundle.tar.gz');
    const file = join(tempDir('mcp-policy-playground-'), 'bundle.tar.gz');
    await download.saveAs(file);
    const engine = await WasmEngine.load(readFileSync(file));
    expect(engine.revision).toBe(revision);
    const out = join(tempDir('mcp-policy-playground-'), 'out');
    const compiled = await cli(['compile', PRODUCTION, '-o', out]);
    expect(compiled.stdout).toContain(`(revision ${revision!.slice(0, 12)})`);
    await page.close();
  });

  it('imports an admin-settings.json and locates an error inside the escaped value', async () => {
    const inner = '{"version":1,"default":"deny","rules":[{"action":"load","sever":"github","allow":true}]}';
    const outer = `{\n  "configurationFileVersion": 2,\n  "mcpPolicy": {\n    "locked": false,\n    "value": ${JSON.stringify(inner)}\n  }\n}\n`;
    const file = tempFile('admin-settings.json', outer);
    const { page } = await open();
    await page.setInputFiles('#import-file', file);
    await page.waitForSelector('#problems li[data-code]');
    const at = outer.indexOf('\\"sever\\"');
    const line = outer.slice(0, at).split('\n').length;
    const column = at - outer.lastIndexOf('\n', at - 1);
    const first = page.locator('#problems li[data-code]').first();
    expect(await first.getAttribute('data-line')).toBe(String(line));
    expect(await first.textContent()).toContain(`line ${line}, column ${column}:`);
    expect(await first.textContent()).toContain('did you mean "server"');
    expect(await page.textContent('#document-summary')).toContain('admin-settings.json');
    const underlined = await page.$$eval('.cm-lintRange-error', (els) => els.map((el) => el.textContent).join(''));
    expect(underlined).toContain('sever');
    await shot(page, 'import-admin-settings');
    await page.close();
  });
});

describe('diff', () => {
  it('shows the regions mcp-policy diff --format json finds against the file the server started with', async () => {
    const changed = JSON.parse(readFileSync(PRODUCTION, 'utf8')) as { rules: Record<string, unknown>[] };
    changed.rules.splice(1, 1);
    changed.rules.push({ action: 'invoke', tools: ['delete_*'], deny: true, reason: 'No deletes' });
    const changedText = `${JSON.stringify(changed, null, 2)}\n`;
    const { page } = await open();
    expect(await page.inputValue('#baseline')).toBe(readFileSync(PRODUCTION, 'utf8'));
    await setPolicy(page, changedText);
    await page.waitForSelector('#diff-changes');
    const shown = await page.$$eval('#diff-changes > li', (items) =>
      items.map((li) => ({
        kind: li.getAttribute('data-kind'),
        regions: [...li.querySelectorAll('li.region')].map((r) => r.textContent),
        witness: li.querySelector('.witness')?.textContent,
      })),
    );
    const out = await cli(['diff', PRODUCTION, tempFile('changed.json', changedText), '--format', 'json']);
    const diff = (
      JSON.parse(out.stdout) as {
        diff: { changes: { kind: string; regions: BoxDescription[]; witness?: unknown }[] };
      }
    ).diff;
    expect(diff.changes.length).toBeGreaterThan(0);
    expect(shown).toEqual(
      diff.changes.map((c) => ({
        kind: c.kind,
        regions: c.regions.map((r) => `where ${renderBox(r)}`),
        witness: c.witness === undefined ? undefined : `e.g. ${JSON.stringify(c.witness)}`,
      })),
    );
    await shot(page, 'diff');
    await page.close();
  });
});

describe('keyboard only', () => {
  it('types a policy, tries a request, sees the decision and downloads the policy without the mouse', async () => {
    const { page } = await open();
    /** Presses Tab until the element with `id` (or the editor) has focus; fails after 80 presses. */
    const tabTo = async (test: string) => {
      for (let i = 0; i < 80; i++) {
        if (await page.evaluate(`!!document.activeElement?.matches(${JSON.stringify(test)})`)) return;
        await page.keyboard.press('Tab');
      }
      throw new Error(`tab never reached ${test}`);
    };
    await tabTo('.cm-content');
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(SHADOWED);
    await waitChecked(page);
    // Escape, then Tab leaves the editor instead of indenting.
    await page.keyboard.press('Escape');
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.matches(".cm-content")')).toBe(false);
    expect(await page.evaluate('document.querySelector(".cm-content").textContent.includes("No deletes")')).toBe(true);
    await tabTo('#lint button.finding');
    await page.keyboard.press('Enter');
    expect(await page.evaluate('document.activeElement?.id')).toBe('explain-heading');
    await tabTo('#f-server');
    await page.keyboard.type('github');
    await tabTo('#f-tool');
    await page.keyboard.type('delete_repository');
    await tabTo('#decide');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#decision[data-state="done"]');
    expect(await page.textContent('#native-decision')).toBe('allow (rule 0): GitHub tools');
    await tabTo('#download-policy');
    const [download] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('Space')]);
    const file = join(tempDir('mcp-policy-playground-'), 'policy.json');
    await download.saveAs(file);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(JSON.parse(SHADOWED));
    await page.close();
  });

  it('labels every control', async () => {
    const { page } = await open();
    const unlabelled = await page.$$eval('input, select, textarea, button', (els) =>
      els
        .filter((e) => {
          const id = e.id;
          const labelled = id && e.ownerDocument.querySelector(`label[for="${id}"]`);
          const text = e.tagName === 'BUTTON' && (e.textContent ?? '').trim() !== '';
          return !labelled && !text && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby');
        })
        .map((e) => e.outerHTML.slice(0, 80)),
    );
    expect(unlabelled).toEqual([]);
    expect(await page.getAttribute('.cm-content', 'aria-label')).toBe('Policy editor');
    await page.close();
  });
});

describe('the static build', () => {
  it('works from a plain file server with every other request blocked, without opa', async () => {
    const offline = await browser.newContext({ viewport: { width: 1400, height: 1000 }, colorScheme: 'dark' });
    const asked: string[] = [];
    await offline.route('**/*', (route) => {
      const url = route.request().url();
      asked.push(url);
      return url.startsWith(staticBase) ? route.continue() : route.abort();
    });
    const page = await offline.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(staticBase);
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.textContent('#server-status')).toMatch(/^static build/);
    await setPolicy(page, SHADOWED);
    await page.waitForSelector('#lint button.finding[data-code="shadowed_rule"]');
    await page.fill('#raw-request', JSON.stringify({ action: 'invoke', server: 'github', tool: 'delete_x' }));
    await page.click('#decide');
    await page.waitForSelector('#decision[data-state="done"]');
    expect(await page.textContent('#native-decision')).toBe('allow (rule 0): GitHub tools');
    expect(await page.textContent('#decision')).toContain('wasm: needs `mcp-policy playground` with opa');
    await page.fill('#baseline', readFileSync(PRODUCTION, 'utf8'));
    await page.waitForSelector('#diff-changes > li');
    expect(await page.$$eval('#diff-changes > li', (items) => items.length)).toBeGreaterThan(0);
    // Dark by the system preference.
    const background = await page.evaluate('getComputedStyle(document.body).backgroundColor');
    expect(background).toBe('rgb(17, 19, 24)');
    await shot(page, 'static-dark');
    expect(asked.every((u) => u.startsWith(staticBase))).toBe(true);
    expect(errors).toEqual([]);
    await offline.close();
  });
});

describe('the page itself', () => {
  it('allows only its own origin in its Content-Security-Policy', () => {
    const html = readFileSync(join(STATIC_ROOT, 'index.html'), 'utf8');
    const csp = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1];
    expect(csp).toBeDefined();
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("worker-src 'self'");
    expect(csp).not.toMatch(/https?:/);
  });
});
