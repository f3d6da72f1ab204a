/** Every example policy, with its table of expected decisions, on every engine. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCaseFile, runCaseTable } from '../src/testing/cases.js';
import { parsePolicy } from '../src/policy/validate.js';
import { NativeEngine } from '../src/engines/native.js';
import { ENGINE_NAMES, engineFor, EXAMPLES, examplePolicies, mustParse, ROOT } from './helpers.js';

const examples = examplePolicies();

/** The version 2 examples (examples/v2/), each with the case table beside it. */
const V2 = join(EXAMPLES, 'v2');
const examplesV2 = readdirSync(V2)
  .filter((f) => f.endsWith('.json') && !f.endsWith('.cases.json'))
  .sort()
  .map((f) => ({
    name: `v2/${basename(f, '.json')}`,
    policyFile: join(V2, f),
    casesFile: join(V2, `${basename(f, '.json')}.cases.json`),
  }));

describe('examples', () => {
  it('are all there, each with a case table', () => {
    expect(examples.map((e) => e.name)).toEqual([
      'admin-settings',
      'block-registries',
      'block-server',
      'block-tools',
      'default-deny-allowlist',
      'default-deny-load-invoke',
      'production',
      'transport',
    ]);
    expect(examplesV2.map((e) => e.name)).toEqual([
      'v2/delete-platform-group',
      'v2/destructive-annotations',
      'v2/filesystem-folder',
      'v2/github-organisation',
      'v2/resources-prefix',
    ]);
    for (const e of [...examples, ...examplesV2]) expect(existsSync(e.casesFile), e.casesFile).toBe(true);
  });

  it('of version 2 are version 2 policies without validation warnings', () => {
    for (const e of examplesV2) {
      const r = parsePolicy(readFileSync(e.policyFile, 'utf8'));
      expect(r.errors, e.name).toEqual([]);
      expect(r.value?.policy.version, e.name).toBe(2);
      expect(r.warnings, e.name).toEqual([]);
    }
  });

  it('of version 2 have tables that expect every rule to decide, and an invalid request', () => {
    for (const e of examplesV2) {
      const policy = mustParse(readFileSync(e.policyFile, 'utf8'));
      const table = parseCaseFile(readFileSync(e.casesFile, 'utf8'), e.casesFile);
      const expected = (table.requests ?? []).map((c) => c.expect);
      const decided = new Set(expected.map((x) => x.rule));
      expect(
        policy.rules.map((_, i) => i).filter((i) => !decided.has(i)),
        `${e.name}: rules no case expects to decide`,
      ).toEqual([]);
      expect(
        expected.some((x) => x.error === true),
        `${e.name}: a case with an invalid request`,
      ).toBe(true);
    }
  });

  for (const example of [...examples, ...examplesV2]) {
    it(`${example.name}: expected decisions on ${ENGINE_NAMES.join(', ')}`, async () => {
      const table = parseCaseFile(readFileSync(example.casesFile, 'utf8'), example.casesFile);
      expect(table.requests?.length).toBeGreaterThanOrEqual(5);
      const result = await runCaseTable(table, {
        engines: ENGINE_NAMES,
        agree: true,
        open: engineFor,
        policyText: readFileSync(example.policyFile, 'utf8'),
      });
      expect(result.invalid).toBeUndefined();
      expect(result.failures).toEqual([]);
      // Every engine decided every request: none was set aside as one go-wasm cannot read.
      expect(result.skipped).toBe(0);
      expect(result.summary).toContain(`on ${ENGINE_NAMES.join(', ')}, 0 failures`);
    });
  }

  it("of the README's version 2 section decides as the section says", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Version 2'));
    const block = /```json\n([\s\S]*?)\n```/.exec(section)![1]!;
    const engine = new NativeEngine(mustParse(block));
    const call = (tool: string, extra: object) => ({ action: 'invoke', server: 'filesystem', tool, ...extra });
    const platform = { principal: { sub: 'alice', groups: ['platform'] } };
    expect(
      engine
        .decideBatchSync([
          call('delete_file', platform),
          call('delete_file', {}),
          call('read_file', { arguments: { path: '/srv/projects/a.md' } }),
          call('read_file', { arguments: { path: '/srv/projects/../../etc/passwd' } }),
          call('append_note', {}),
          call('append_note', { annotations: { readOnlyHint: true } }),
          { action: 'resource', resource: 'file:///srv/docs/a.md' },
          { action: 'resource', resource: 'file:///etc/passwd' },
        ])
        .map((d) => [d.allowed, d.rule]),
    ).toEqual([
      [true, 0],
      [false, 1],
      [true, 2],
      [false, 3],
      [false, 4],
      [true, null],
      [true, 5],
      [false, 6],
    ]);
  });
});
