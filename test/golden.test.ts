/**
 * Golden files: the Rego module and the data.json generated for each example,
 * and for every shape the emitter can print (enterprise section, with and
 * without provenance, a header line, another package), byte for byte. A
 * change to lowering or the emitter shows up here as a readable diff;
 * regenerate deliberately with `UPDATE_GOLDEN=1 npm test`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generatePolicy } from '../src/pipeline/build.js';
import { parseEnterpriseConfig } from '../src/enterprise/validate.js';
import { lower } from '../src/pipeline/lower.js';
import { emitRego } from '../src/pipeline/emit.js';
import { EXAMPLES, examplePolicies, mustParse, ROOT } from './helpers.js';

const update = process.env.UPDATE_GOLDEN === '1';

function expectGolden(name: string, text: string): void {
  const golden = join(ROOT, 'test', 'golden', name);
  if (update || !existsSync(golden)) {
    if (!update) throw new Error(`missing ${golden}: run UPDATE_GOLDEN=1 npm test`);
    writeFileSync(golden, text);
  }
  expect(text).toBe(readFileSync(golden, 'utf8'));
}

/** data.json, indented so a golden diff shows which rule or index entry changed. */
const pretty = (data: string): string => `${JSON.stringify(JSON.parse(data), null, 2)}\n`;

describe('golden Rego and data', () => {
  for (const example of examplePolicies()) {
    it(example.name, () => {
      const { rego, data } = generatePolicy(mustParse(readFileSync(example.policyFile, 'utf8')));
      expectGolden(`${example.name}.rego`, rego);
      expectGolden(`${example.name}.data.json`, pretty(data));
    });
  }

  const enterprise = () => {
    const text = readFileSync(join(EXAMPLES, 'enterprise', 'advisory-block.yaml'), 'utf8');
    const { value: config } = parseEnterpriseConfig(text);
    if (!config) throw new Error('advisory-block.yaml is invalid');
    return config;
  };
  const production = () => mustParse(readFileSync(join(EXAMPLES, 'production.json'), 'utf8'));

  it('shape: enterprise section', () => {
    const { rego, data } = generatePolicy(production(), { enterprise: enterprise() });
    expectGolden('shape-enterprise.rego', rego);
    expectGolden('shape-enterprise.data.json', pretty(data));
  });

  it('shape: enterprise section with provenance', () => {
    const provenance = { policy: 'admin-settings' as const, why: 'locked by the admin-settings.json' };
    const { rego } = generatePolicy(production(), { enterprise: enterprise(), provenance });
    expectGolden('shape-enterprise-provenance.rego', rego);
  });

  it('shape: header line and another package', () => {
    const rego = emitRego(lower(production()), { header: 'from "team\npolicy.json"', packageName: 'difftest.p7' });
    expectGolden('shape-header-package.rego', rego);
  });

  it('shape: every kind of condition and index entry, multi-star patterns among them', () => {
    const policy = mustParse(
      JSON.stringify({
        version: 1,
        default: 'allow',
        rules: [
          { server: 'exact', allow: true },
          { server: 'team-*', tools: ['get_*', '*_purge', 'wipe'], allow: true },
          { server: '*.svc', serverSource: 'docker.io/mcp/*', allow: false },
          { serverSource: 'ghcr.io/org/x', action: 'load', allow: true },
          { server: 'a*b*c*d', allow: false, reason: 'multi "star"' },
          { tools: ['*x*', 'y'], allow: false },
          { server: '*mid*', allow: true },
          { server: '*', serverSource: '*', tools: ['*'], allow: true },
          { transport: 'sse', serverType: 'remote', allow: false },
          { allow: false },
        ],
      }),
    );
    expectGolden('shape-conditions.data.json', pretty(generatePolicy(policy).data));
  });

  const v2Policy = () =>
    mustParse(
      JSON.stringify({
        version: 2,
        default: 'deny',
        rules: [
          { action: 'resource', resources: ['file:///srv/docs/*', 'https://x.example/a'], allow: true },
          { tools: ['delete_*'], groups: ['platform', 'ops-*'], allow: true },
          { users: ['*@acme.com'], claims: { org: ['acme'], ['__proto__']: ['*x*'] }, allow: true },
          { users: ['*'], annotations: { readOnlyHint: true, destructiveHint: false }, allow: true },
          {
            tools: ['read_file'],
            arguments: [
              { path: '/path', match: ['/srv/*', '/tmp'], normalize: 'path', not: true },
              { path: '/list/0/*', in: [1, 'one', true, null] },
              { path: '/a~1b/~0c/12', equals: -0 },
              { path: '/n', min: 1e21 },
              { path: '/m', max: 5e-324, not: true },
              { path: '', present: false },
            ],
            deny: true,
          },
        ],
      }),
    );

  it('shape: version 2 module', () => {
    expectGolden('shape-v2.rego', generatePolicy(v2Policy()).rego);
  });

  it('shape: version 2 module with the enterprise section', () => {
    expectGolden('shape-v2-enterprise.rego', generatePolicy(v2Policy(), { enterprise: enterprise() }).rego);
  });

  it('shape: version 2 conditions and index entries', () => {
    expectGolden('shape-v2-conditions.data.json', pretty(generatePolicy(v2Policy()).data));
  });
});
