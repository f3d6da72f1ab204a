/**
 * Semantics that engines used to disagree on, decided once (docs/semantics.md)
 * and held on every engine: non-finite numbers, empty degraded-mode messages,
 * and the order of `rejected`.
 */
import { describe, expect, it } from 'vitest';
import { parseEnterpriseConfig, validateLocalSettings } from '../src/enterprise/validate.js';
import { configEverywhere, decideEverywhere, ENGINE_NAMES, tableEnterprise } from './helpers.js';

const NO_RULES = { version: 1 as const, default: 'allow' as const, rules: [] };

describe('decided semantics', () => {
  it('an unreachableSeconds that is not finite is an invalid request on every engine', async () => {
    const enterprise = tableEnterprise({ enterpriseText: 'degraded_mode: {policy: warn}\n' })!;
    const byEngine = await decideEverywhere(
      NO_RULES,
      [{ unreachableSeconds: Infinity }, { unreachableSeconds: 1e308 }],
      {
        enterprise,
      },
    );
    for (const engine of ENGINE_NAMES) {
      expect(byEngine[engine][0], engine).toMatchObject({ allowed: false, reason: 'invalid request' });
      expect(byEngine[engine][1], engine).toMatchObject({ allowed: true, warning: expect.any(String) as string });
    }
  });

  it('rejects an empty degraded-mode message and non-finite numbers in a config', () => {
    expect(parseEnterpriseConfig('degraded_mode: {policy: warn, message: ""}\n').errors).toMatchObject([
      { code: 'invalid_value', path: '/degraded_mode/message', line: 1 },
    ]);
    for (const v of ['.nan', '.inf', '-.inf']) {
      expect(parseEnterpriseConfig(`custom: {value: ${v}, enforcement: enforced}\n`).errors, v).toMatchObject([
        { code: 'invalid_number', path: '/custom/value', line: 1 },
      ]);
    }
    expect(validateLocalSettings({ playground: Infinity }).errors).toMatchObject([{ path: '/playground' }]);
  });

  it('orders rejected by code point on every engine', async () => {
    const enterprise = tableEnterprise({
      enterprise: {
        '\uFF61_x': { value: true, enforcement: 'enforced' },
        '\u{1F600}_x': { value: true, enforcement: 'enforced' },
      },
    })!;
    const byEngine = await configEverywhere(NO_RULES, { enterprise }, [{ '\u{1F600}_x': false, '\uFF61_x': false }]);
    for (const engine of ENGINE_NAMES) {
      const rejected = (byEngine[engine][0] as { rejected: { key: string }[] }).rejected.map((r) => r.key);
      expect(rejected, engine).toEqual(['\uFF61_x', '\u{1F600}_x']);
    }
  });
});
