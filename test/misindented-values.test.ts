/**
 * Helm values and enterprise configs whose directive fields are indented at
 * the wrong level: the fix each message suggests must be the one that makes
 * the document valid.
 */
import { describe, expect, it } from 'vitest';
import { type Issue } from '../src/core/errors.js';
import { parseEnterpriseConfig } from '../src/enterprise/validate.js';

function issues(text: string): { errors: Issue[]; warnings: Issue[] } {
  const r = parseEnterpriseConfig(text);
  return { errors: [...r.errors], warnings: [...r.warnings] };
}

/** Every message, so a wrong suggestion anywhere fails the test. */
function messages(text: string): string {
  const { errors, warnings } = issues(text);
  return [...errors, ...warnings].map((i) => `${i.code} ${i.path}: ${i.message}`).join('\n');
}

describe('mis-indented directive fields in Helm values', () => {
  it('enforcement one level too far left is a field of the directive above, not a directive of its own', () => {
    const text = [
      'enterprise-manager:',
      '  enterpriseConfig:',
      '    non_registry_servers:',
      '      value: false',
      '    enforcement: enforced',
      '',
    ].join('\n');
    const { errors, warnings } = issues(text);
    expect(errors).toEqual([
      {
        code: 'missing_field',
        path: '/enterprise-manager/enterpriseConfig/non_registry_servers/enforcement',
        message:
          'missing required field "enforcement" in directive "non_registry_servers"; ' +
          'the "enforcement" below it is not indented under it',
        line: 4,
        column: 7,
      },
      {
        code: 'misplaced_field',
        path: '/enterprise-manager/enterpriseConfig/enforcement',
        message: '"enforcement" is a field of a directive, not a directive: indent it under "non_registry_servers"',
        line: 5,
        column: 5,
      },
    ]);
    expect(warnings).toEqual([]);
    // The old suggestion wrapped the stray field in a directive of its own.
    expect(messages(text)).not.toContain('write {value:');
  });

  it('value and enforcement both one level too far left belong to the empty directive above', () => {
    const text = [
      'enterprise-manager:',
      '  enterpriseConfig:',
      '    non_registry_servers:',
      '    value: false',
      '    enforcement: enforced',
      '',
    ].join('\n');
    const { errors } = issues(text);
    expect(errors.map((e) => [e.code, e.path, e.line])).toEqual([
      ['invalid_type', '/enterprise-manager/enterpriseConfig/non_registry_servers', 3],
      ['misplaced_field', '/enterprise-manager/enterpriseConfig/value', 4],
      ['misplaced_field', '/enterprise-manager/enterpriseConfig/enforcement', 5],
    ]);
    expect(errors[0]!.message).toBe(
      'directive "non_registry_servers" must be an object with "value" and "enforcement", not null; ' +
        'the "value" and "enforcement" below it are not indented under it',
    );
    expect(errors[1]!.message).toContain('indent it under "non_registry_servers"');
    expect(messages(text)).not.toContain('write {value:');
  });

  it('enforcement indented into value belongs beside it', () => {
    const text = [
      'enterprise-manager:',
      '  enterpriseConfig:',
      '    registry:',
      '      value:',
      '        api_url: https://registry.example.com/api',
      '        enforcement: enforced',
      '',
    ].join('\n');
    expect(issues(text).errors).toEqual([
      {
        code: 'misplaced_field',
        path: '/enterprise-manager/enterpriseConfig/registry/value/enforcement',
        message:
          '"enforcement" is a field of directive "registry", not of its value: indent it one level less, beside "value"',
        line: 6,
        column: 9,
      },
    ]);
  });

  it('directives one level too far left are not in an empty enterpriseConfig, whatever was meant', () => {
    const text = [
      'enterprise-manager:',
      '  enterpriseConfig:',
      '  non_registry_servers:',
      '    value: false',
      '    enforcement: enforced',
      '',
    ].join('\n');
    const { errors, warnings } = issues(text);
    expect(errors).toMatchObject([
      {
        code: 'invalid_type',
        path: '/enterprise-manager/enterpriseConfig',
        message:
          'enterpriseConfig must be an object, not null; the directives after it ("non_registry_servers") are not indented under it',
      },
    ]);
    expect(warnings).toMatchObject([{ code: 'misplaced_directive', path: '/enterprise-manager/non_registry_servers' }]);
    // "{} for no directives" would silently drop the directive the admin wrote.
    expect(messages(text)).not.toContain('write {} for no directives');
  });

  it('enterpriseConfig one level too far left is beside enterprise-manager, not under it', () => {
    const text = [
      'enterprise-manager:',
      'enterpriseConfig:',
      '  non_registry_servers:',
      '    value: false',
      '    enforcement: enforced',
      '',
    ].join('\n');
    expect(issues(text).errors).toMatchObject([
      {
        code: 'invalid_type',
        path: '/enterprise-manager',
        message:
          '"enterprise-manager" must be an object, not null; the "enterpriseConfig" after it is not indented under it',
      },
    ]);
  });

  it('directives under another key of enterprise-manager are named there, not only missed', () => {
    const under = (key: string): string =>
      [
        'enterprise-manager:',
        `  ${key}:`,
        '    non_registry_servers:',
        '      value: false',
        '      enforcement: enforced',
        '',
      ].join('\n');
    expect(issues(under('config')).errors).toMatchObject([
      {
        code: 'missing_field',
        path: '/enterprise-manager/enterpriseConfig',
        message:
          'missing required field "enterpriseConfig" in "enterprise-manager"; the directives are under "config": rename it "enterpriseConfig"',
      },
    ]);
    const direct = [
      'enterprise-manager:',
      '  non_registry_servers:',
      '    value: false',
      '    enforcement: enforced',
      '',
    ];
    expect(issues(direct.join('\n')).errors).toMatchObject([
      {
        code: 'missing_field',
        message:
          'missing required field "enterpriseConfig" in "enterprise-manager"; the directives ("non_registry_servers") ' +
          'are directly under "enterprise-manager": indent them under "enterpriseConfig:"',
      },
    ]);
    // A near miss of the key itself keeps its "did you mean".
    expect(issues(under('enterpriseConfg')).errors[0]?.message).toContain(
      'found "enterpriseConfg": did you mean "enterpriseConfig"?',
    );
  });

  it('still suggests the wrapper for a directive given a bare value', () => {
    expect(issues('enterpriseConfig:\n  playground: false\n').errors[0]?.message).toBe(
      'directive "playground" must be an object with "value" and "enforcement", not the boolean false; ' +
        'write {value: false, enforcement: enforced} (or default)',
    );
  });
});
