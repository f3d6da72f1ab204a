/** Enterprise configs end to end: the CLI's config, check, compile and eval, and Docker's policy layering. */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolvePolicyLayers } from '../src/policy/layers.js';
import { type Policy } from '../src/policy/model.js';
import { cli, tempFile, ENGINE_NAMES, ROOT } from './helpers.js';

const VALUES = join(ROOT, 'examples', 'enterprise', 'values.yaml');
const ENFORCED = join(ROOT, 'examples', 'enterprise', 'non-registry-enforced.yaml');

describe('mcp-policy check on enterprise configs', () => {
  it('accepts every example enterprise config', async () => {
    const files = readdirSync(join(ROOT, 'examples', 'enterprise'));
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const f of files) {
      const r = await cli(['check', join(ROOT, 'examples', 'enterprise', f)]);
      expect(r.code, `${f}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toContain('valid enterprise config');
    }
  });

  it('reports directive errors with the pointer into the YAML as written', async () => {
    const file = tempFile(
      'values.yaml',
      "enterprise-manager:\n  enterpriseConfig:\n    non_registry_servers:\n      value: 'no'\n      enforcement: enforce\n",
    );
    const r = await cli(['check', '--json', file]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { errors: { code: string; path: string }[] };
    expect(out.errors.map((e) => e.path).sort()).toEqual([
      '/enterprise-manager/enterpriseConfig/non_registry_servers/enforcement',
      '/enterprise-manager/enterpriseConfig/non_registry_servers/value',
    ]);
  });
});

describe('mcp-policy config', () => {
  it('explains every effective value, identically on every engine', async () => {
    const local = tempFile('local.json', JSON.stringify({ non_registry_servers: true, playground: false }));
    const outputs: string[] = [];
    for (const engine of ENGINE_NAMES) {
      const r = await cli(['config', ENFORCED, '--local', local, '--engine', engine]);
      expect(r.code, r.stderr).toBe(0);
      outputs.push(r.stdout);
    }
    for (const o of outputs) expect(o).toBe(outputs[0]);
    const config = JSON.parse(outputs[0]!) as {
      directives: Record<string, { value: unknown; source: string }>;
      rejected: unknown[];
    };
    expect(config.directives.non_registry_servers).toEqual({ value: false, source: 'enforced' });
    expect(config.directives.playground).toEqual({ value: false, source: 'local' });
    expect(config.directives.assistant).toEqual({ value: true, source: 'builtin' });
    expect(config.rejected).toEqual([{ key: 'non_registry_servers', local: true, value: false }]);
  });

  it('rejects local settings of the wrong type, with their pointer', async () => {
    const local = tempFile('local.json', JSON.stringify({ non_registry_servers: 'yes' }));
    const r = await cli(['config', ENFORCED, '--local', local, '--engine', 'native']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/non_registry_servers');
  });
});

describe('compile and eval with --enterprise', () => {
  it('denies a non-registry load by directive before the rules, on every engine', async () => {
    const requests = [
      { action: 'load', serverType: 'image', serverSource: 'mcp/x' },
      { action: 'load', serverType: 'registry', serverSource: 'mcp/x' },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n');
    const policy = join(ROOT, 'examples', 'production.json');
    for (const engine of ENGINE_NAMES) {
      const r = await cli(['eval', policy, '--enterprise', ENFORCED, '--engine', engine], requests);
      expect(r.code, r.stderr).toBe(0);
      const [first, second] = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(first).toMatchObject({ allowed: false, rule: null, directive: 'non_registry_servers' });
      expect(second).toMatchObject({ allowed: true, rule: 0 });
    }
  });

  it('compiles an enterprise config alone, and the bundle answers config', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'mcp-policy-ent-')), 'bundle');
    const c = await cli(['compile', '--enterprise', VALUES, '-o', out]);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toContain('policy in force: none');
    const r = await cli(['eval', join(out, 'bundle.tar.gz')], '{"action":"load","serverType":"image"}');
    expect(JSON.parse(r.stdout)).toMatchObject({ allowed: false, directive: 'non_registry_servers' });
  });
});

describe("Docker's policy layering", () => {
  const p = (d: 'allow' | 'deny'): Policy => ({ version: 1, default: d, rules: [] });
  const adminSettings = (locked: boolean) => ({
    policy: p('deny'),
    source: { kind: 'admin-settings' as const, locked },
    file: 'admin-settings.json',
  });
  const user = { policy: p('allow'), source: { kind: 'policy' as const }, file: 'mine.json' };
  const console_ = { policy: p('deny'), source: { kind: 'policy' as const }, file: 'console.json' };

  it('a locked admin policy ignores the user policy', () => {
    const r = resolvePolicyLayers({ adminSettings: adminSettings(true), user });
    expect(r.policy).toEqual(p('deny'));
    expect(r.provenance.policy).toBe('admin-settings');
    expect(r.provenance.why).toContain('is locked');
    expect(r.provenance.why).toContain('mine.json is ignored');
  });

  it('an unlocked admin policy is replaced by the user policy, and applies without one', () => {
    expect(resolvePolicyLayers({ adminSettings: adminSettings(false), user }).provenance.policy).toBe('user');
    expect(resolvePolicyLayers({ adminSettings: adminSettings(false) }).provenance.policy).toBe('admin-settings');
  });

  it('the Admin Console policy takes precedence over admin-settings.json', () => {
    const r = resolvePolicyLayers({ adminConsole: console_, adminSettings: adminSettings(false), user });
    expect(r.provenance.policy).toBe('admin-console');
    expect(r.provenance.why).toContain('takes precedence over admin-settings.json');
  });

  it('applies the outcome when deciding', async () => {
    const admin = tempFile(
      'admin-settings.json',
      JSON.stringify({ configurationFileVersion: 2, mcpPolicy: { locked: false, value: JSON.stringify(p('deny')) } }),
    );
    const mine = tempFile('mine.json', JSON.stringify(p('allow')));
    const r = await cli(['config', VALUES, '--engine', 'native']);
    expect(r.code).toBe(0);
    const e = await cli(['eval', admin, '--user-policy', mine, '--engine', 'wasm'], '{"action":"invoke","tool":"x"}');
    expect(JSON.parse(e.stdout)).toMatchObject({ allowed: true, reason: 'no rule matched; default allow' });
    const locked = tempFile(
      'admin-settings.json',
      JSON.stringify({ configurationFileVersion: 2, mcpPolicy: { locked: true, value: JSON.stringify(p('deny')) } }),
    );
    const l = await cli(['eval', locked, '--user-policy', mine, '--engine', 'opa'], '{"action":"invoke","tool":"x"}');
    expect(JSON.parse(l.stdout)).toMatchObject({ allowed: false, reason: 'no rule matched; default deny' });
  });
});
