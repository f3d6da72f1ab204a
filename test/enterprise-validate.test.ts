/** Enterprise configuration: parsing (YAML, JSON, three shapes), every validation rule with its code and pointer. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KNOWN_DIRECTIVES } from '../src/enterprise/model.js';
import {
  documentKind,
  parseEnterpriseConfig,
  parseGoDuration,
  validateEnterpriseValue,
  validateLocalSettings,
} from '../src/enterprise/validate.js';
import type { Issue } from '../src/core/errors.js';
import { CASES, EXAMPLES } from './helpers.js';

const ENTERPRISE_EXAMPLES = join(EXAMPLES, 'enterprise');
const ENTERPRISE_CASES = join(CASES, 'enterprise');

/** A self-signed P-256 certificate (CN=mcp-policy-test), generated with openssl for these tests. */
const TEST_CERTIFICATE = `-----BEGIN CERTIFICATE-----
MIIBiTCCAS+gAwIBAgIUPM+RWzmqqh1RyYsQXqi9r12Mw2YwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPbWNwLXBvbGljeS10ZXN0MB4XDTI2MTEyMjA3MTk1NloXDTM2
MTExOTA3MTk1NlowGjEYMBYGA1UEAwwPbWNwLXBvbGljeS10ZXN0MFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAE26mWEbU6LJSWbaQsxu8y/EB/8MeQDaUeWiONtdKz
m+IQUOq/F7JZ/jp45ATewG/y0R1R2uFeRyNUyBGyIhxG7qNTMFEwHQYDVR0OBBYE
FBeak++yiNS6Vl5SDu0Rem99pTeQMB8GA1UdIwQYMBaAFBeak++yiNS6Vl5SDu0R
em99pTeQMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgJEGhJnme
rrw7iTyOK6G6LxXr6iFdGau385gpkAL5OwECIQCzh1+2PVmLd5Nwf+igLutyJcOd
s9iVZX6Fiw2Htd7ipQ==
-----END CERTIFICATE-----
`;

/** Parses a directive map given as a value, written as JSON (which is YAML). */
function parseMap(map: unknown): ReturnType<typeof parseEnterpriseConfig> {
  return parseEnterpriseConfig(JSON.stringify(map, null, 2));
}

/** `code path` of each issue, for compact exact comparisons. */
function codes(issues: readonly Issue[]): string[] {
  return issues.map((i) => `${i.code} ${i.path}`);
}

const directive = (value: unknown, enforcement = 'enforced') => ({ value, enforcement });

describe('shapes', () => {
  const map = { non_registry_servers: directive(false), degraded_mode: { policy: 'warn' } };
  const expected = {
    directives: { non_registry_servers: { value: false, enforcement: 'enforced' } },
    degradedMode: { policy: 'warn' },
  };

  it('reads Helm values, ignoring the chart’s other keys', () => {
    const r = parseMap({ global: { x: 1 }, 'enterprise-manager': { replicaCount: 2, enterpriseConfig: map } });
    expect(r).toEqual({ value: expected, errors: [], warnings: [] });
  });

  it('reads {enterpriseConfig: ...}', () => {
    expect(parseMap({ enterpriseConfig: map })).toEqual({ value: expected, errors: [], warnings: [] });
  });

  it('reads the bare directive map (the config-map form)', () => {
    expect(parseMap(map)).toEqual({ value: expected, errors: [], warnings: [] });
  });

  it('points into the document as written, whatever the shape', () => {
    const bad = { non_registry_servers: { value: false, enforcement: 'always' } };
    expect(codes(parseMap({ 'enterprise-manager': { enterpriseConfig: bad } }).errors)).toEqual([
      'invalid_value /enterprise-manager/enterpriseConfig/non_registry_servers/enforcement',
    ]);
    expect(codes(parseMap({ enterpriseConfig: bad }).errors)).toEqual([
      'invalid_value /enterpriseConfig/non_registry_servers/enforcement',
    ]);
    expect(codes(parseMap(bad).errors)).toEqual(['invalid_value /non_registry_servers/enforcement']);
  });

  it('accepts an empty enterpriseConfig and an empty directive map', () => {
    expect(parseEnterpriseConfig('enterpriseConfig: {}\n')).toEqual({
      value: { directives: {} },
      errors: [],
      warnings: [],
    });
    expect(parseEnterpriseConfig('{}').value).toEqual({ directives: {} });
  });

  it('rejects an enterpriseConfig that is not an object, such as an empty YAML block', () => {
    const r = parseEnterpriseConfig('enterpriseConfig:\n');
    expect(r.value).toBeUndefined();
    expect(r.errors).toEqual([
      {
        code: 'invalid_type',
        path: '/enterpriseConfig',
        message: 'enterpriseConfig must be an object, not null; write {} for no directives',
        line: 1,
        column: 18,
      },
    ]);
    expect(codes(parseMap({ enterpriseConfig: [] }).errors)).toEqual(['invalid_type /enterpriseConfig']);
    expect(codes(parseMap({ 'enterprise-manager': { enterpriseConfig: 'x' } }).errors)).toEqual([
      'invalid_type /enterprise-manager/enterpriseConfig',
    ]);
  });

  it('needs enterpriseConfig under enterprise-manager, and hints at a misspelling', () => {
    const r = parseEnterpriseConfig('enterprise-manager:\n  enterpriseconfig: {}\n');
    expect(r.errors).toEqual([
      {
        code: 'missing_field',
        path: '/enterprise-manager/enterpriseConfig',
        message:
          'missing required field "enterpriseConfig" in "enterprise-manager"; found "enterpriseconfig": did you mean "enterpriseConfig"?',
        line: 2,
        column: 3,
      },
    ]);
    expect(codes(parseMap({ 'enterprise-manager': null }).errors)).toEqual(['invalid_type /enterprise-manager']);
  });

  it('rejects documents that are not objects', () => {
    expect(parseEnterpriseConfig('').errors).toEqual([
      {
        code: 'empty_document',
        path: '',
        message: 'the document is empty (null); expected an object of directives',
        line: 1,
        column: 1,
      },
    ]);
    expect(codes(parseEnterpriseConfig('- a\n- b\n').errors)).toEqual(['invalid_type ']);
    expect(parseEnterpriseConfig('"text"').errors[0]?.message).toBe(
      'the document must be an object, not the string "text"',
    );
  });

  it('warns about directives written beside enterpriseConfig, which are ignored', () => {
    const r = parseEnterpriseConfig(
      'enterpriseConfig:\n  playground: {value: true, enforcement: default}\nnon_registry_servers: {value: false, enforcement: enforced}\n',
    );
    expect(r.value).toEqual({ directives: { playground: { value: true, enforcement: 'default' } } });
    expect(r.warnings).toMatchObject([
      { code: 'misplaced_directive', path: '/non_registry_servers', line: 3, column: 1 },
    ]);
    const helm = parseMap({
      'enterprise-manager': { enterpriseConfig: {}, degraded_mode: { policy: 'warn' } },
      registry: { image: 'x' },
    });
    expect(codes(helm.warnings)).toEqual(['misplaced_directive /enterprise-manager/degraded_mode']);
  });
});

describe('YAML and JSON text', () => {
  it('accepts enforcement quoted either way or not at all, and keeps comments out', () => {
    for (const quoted of ["'enforced'", '"enforced"', 'enforced']) {
      const r = parseEnterpriseConfig(
        `enterpriseConfig:\n  non_registry_servers:\n    # false = only registry servers\n    value: false\n    enforcement: ${quoted}\n`,
      );
      expect(r.errors, quoted).toEqual([]);
      expect(r.value?.directives.non_registry_servers).toEqual({ value: false, enforcement: 'enforced' });
    }
  });

  it('reads JSON, including tab-indented JSON and a byte order mark', () => {
    const json = '\ufeff{\n\t"playground": {\n\t\t"value": true,\n\t\t"enforcement": "default"\n\t}\n}\n';
    expect(parseEnterpriseConfig(json)).toEqual({
      value: { directives: { playground: { value: true, enforcement: 'default' } } },
      errors: [],
      warnings: [],
    });
  });

  it('reports duplicate keys at the second occurrence, in YAML and in JSON', () => {
    const yaml = parseEnterpriseConfig(
      'enterpriseConfig:\n  playground:\n    value: true\n    value: false\n    enforcement: default\n',
    );
    expect(yaml.value).toBeUndefined();
    expect(yaml.errors).toEqual([
      {
        code: 'duplicate_key',
        path: '/enterpriseConfig/playground/value',
        message: 'duplicate key "value"',
        line: 4,
        column: 5,
      },
    ]);
    const json = parseEnterpriseConfig('{"help_menu": {"value": true, "enforcement": "default"}, "help_menu": {}}');
    expect(json.errors).toMatchObject([{ code: 'duplicate_key', path: '/help_menu', line: 1, column: 58 }]);
  });

  it('treats keys that YAML tells apart but JSON cannot (1 and "1") as duplicates', () => {
    const r = parseEnterpriseConfig('build_env:\n  value: {"1": a, 1: b}\n  enforcement: default\n');
    expect(codes(r.errors)).toEqual(['duplicate_key /build_env/value/1', 'invalid_name /build_env/value/1']);
  });

  it('reports YAML syntax errors with a line and column', () => {
    const r = parseEnterpriseConfig('enterpriseConfig:\n  playground:\n    value: [true\n    enforcement: default\n');
    expect(r.value).toBeUndefined();
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatchObject({
      code: 'invalid_yaml',
      path: '/enterpriseConfig/playground/value/0',
      line: 4,
      column: 5,
    });
    expect(r.errors[0]?.message).toMatch(/^[a-z]/);
    expect(parseEnterpriseConfig('a: 1\n---\nb: 2\n').errors).toMatchObject([{ code: 'invalid_yaml' }]);
  });

  it('resolves aliases but rejects self-reference, unknown aliases, alias bombs and absurd nesting', () => {
    const shared = parseEnterpriseConfig('playground: &d {value: true, enforcement: default}\nhelp_menu: *d\n');
    expect(shared.value?.directives).toEqual({
      playground: { value: true, enforcement: 'default' },
      help_menu: { value: true, enforcement: 'default' },
    });
    expect(parseEnterpriseConfig('a: &x {b: *x}\n').errors).toMatchObject([
      { code: 'invalid_yaml', message: 'alias "*x" refers to a value that contains it', line: 1, column: 11 },
    ]);
    expect(parseEnterpriseConfig('a: *nope\n').errors).toMatchObject([{ code: 'invalid_yaml', line: 1, column: 4 }]);
    const levels = ['a: &a [1,2,3,4,5,6,7,8,9,10]'];
    for (const name of 'bcdef') {
      const previous = String.fromCharCode(name.charCodeAt(0) - 1);
      levels.push(`${name}: &${name} [${Array(10).fill(`*${previous}`).join(',')}]`);
    }
    expect(parseEnterpriseConfig(levels.join('\n')).errors).toMatchObject([
      { code: 'too_large', message: 'the document has more than 100000 values after expanding aliases' },
    ]);
    // The YAML library recurses while composing; deep input must be refused before it, every time.
    for (let k = 0; k < 3; k++) {
      for (const deep of ['['.repeat(20000) + ']'.repeat(20000), '{"a":'.repeat(3000) + '1' + '}'.repeat(3000)]) {
        expect(parseEnterpriseConfig(deep).errors).toMatchObject([
          { code: 'too_deep', message: 'the document is nested more than 100 levels deep', line: 1 },
        ]);
      }
    }
  });

  it('never throws, and agrees with validateEnterpriseValue on JSON values', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        parseEnterpriseConfig(text);
      }),
      { numRuns: 300 },
    );
    const value = fc.jsonValue({ maxDepth: 4 });
    const config = fc.oneof(
      fc.dictionary(fc.constantFrom(...KNOWN_DIRECTIVES, 'degraded_mode', 'other'), value),
      fc.dictionary(
        fc.constantFrom(...KNOWN_DIRECTIVES),
        fc.record({ value, enforcement: fc.constantFrom('enforced', 'default', 'x') }),
      ),
    );
    fc.assert(
      fc.property(config, (map) => {
        const fromText = parseMap(map);
        const fromValue = validateEnterpriseValue(map);
        const strip = (issues: readonly Issue[]) => issues.map(({ code, path, message }) => ({ code, path, message }));
        expect(strip(fromText.errors)).toEqual(strip(fromValue.errors));
        expect(strip(fromText.warnings)).toEqual(strip(fromValue.warnings));
        expect(fromText.value).toEqual(fromValue.value);
      }),
      { numRuns: 300 },
    );
  });
});

describe('directive wrapper', () => {
  it('needs {value, enforcement} with enforcement "enforced" or "default"', () => {
    const r = parseMap({
      non_registry_servers: false,
      playground: { enforcement: 'default' },
      help_menu: { value: true },
      assistant: { value: true, enforcement: 'Enforced', locked: true },
      registry: { value: { api_url: 'https://r.example.com' }, enforcement: 1 },
    });
    expect(codes(r.errors)).toEqual([
      'invalid_type /non_registry_servers',
      'missing_field /playground/value',
      'missing_field /help_menu/enforcement',
      'unknown_field /assistant/locked',
      'invalid_value /assistant/enforcement',
      'invalid_type /registry/enforcement',
    ]);
    expect(r.errors[0]?.message).toBe(
      'directive "non_registry_servers" must be an object with "value" and "enforcement", not the boolean false; write {value: false, enforcement: enforced} (or default)',
    );
    expect(r.errors[4]?.message).toBe(
      'unknown enforcement "Enforced"; expected one of "enforced", "default"; did you mean "enforced"?',
    );
  });

  it('places unknown fields at the key, missing fields at the parent and bad values at the value', () => {
    const r = parseEnterpriseConfig(
      [
        'enterpriseConfig:',
        '  registry:',
        '    api_url: https://r.example.com',
        '    value:',
        '      allow_private_ip: no',
        '    enforcement: enforced',
      ].join('\n'),
    );
    expect(r.errors).toEqual([
      {
        code: 'unknown_field',
        path: '/enterpriseConfig/registry/api_url',
        message: 'unknown field "api_url"; "api_url" belongs inside "value"',
        line: 3,
        column: 5,
      },
      {
        code: 'missing_field',
        path: '/enterpriseConfig/registry/value/api_url',
        message: 'missing required field "api_url" in registry.value',
        line: 5,
        column: 7,
      },
      {
        code: 'invalid_type',
        path: '/enterpriseConfig/registry/value/allow_private_ip',
        message:
          'registry.value.allow_private_ip must be a boolean, not the string "no"; write true or false, without quotes',
        line: 5,
        column: 25,
      },
    ]);
  });

  it('keeps unknown directives as written, in order, with a warning', () => {
    const r = parseMap({
      llm_gateway: directive({ url: 'https://llm.example.com', models: ['a'] }),
      playground: directive(true, 'default'),
      non_registry_server: directive(false),
    });
    expect(r.errors).toEqual([]);
    expect(Object.keys(r.value?.directives ?? {})).toEqual(['llm_gateway', 'playground', 'non_registry_server']);
    expect(r.value?.directives.llm_gateway).toEqual(directive({ url: 'https://llm.example.com', models: ['a'] }));
    expect(r.warnings).toMatchObject([
      {
        code: 'unknown_directive',
        path: '/llm_gateway',
        message: 'unknown directive "llm_gateway"; it is passed through to clients unchecked',
        line: 2,
        column: 3,
      },
      {
        code: 'unknown_directive',
        path: '/non_registry_server',
        message:
          'unknown directive "non_registry_server" (did you mean "non_registry_servers"?); it is passed through to clients unchecked',
      },
    ]);
  });

  it('still needs the wrapper on unknown directives', () => {
    const r = parseMap({
      banner: 'hello',
      gateway: { value: 1, enforcement: 'sometimes' },
      other: { enforcement: 'default' },
    });
    expect(codes(r.errors)).toEqual([
      'invalid_type /banner',
      'invalid_value /gateway/enforcement',
      'missing_field /other/value',
    ]);
    expect(codes(r.warnings)).toEqual([
      'unknown_directive /banner',
      'unknown_directive /gateway',
      'unknown_directive /other',
    ]);
  });
});

describe('boolean directives', () => {
  for (const key of ['non_registry_servers', 'playground', 'help_menu', 'assistant']) {
    it(`${key} takes a boolean`, () => {
      expect(parseMap({ [key]: directive(true) }).errors).toEqual([]);
      expect(parseMap({ [key]: directive(false, 'default') }).errors).toEqual([]);
      for (const bad of ['false', 'yes', 0, null, {}, []]) {
        expect(codes(parseMap({ [key]: directive(bad) }).errors), JSON.stringify(bad)).toEqual([
          `invalid_type /${key}/value`,
        ]);
      }
    });
  }

  it('explains YAML 1.1 booleans, which are strings in YAML 1.2', () => {
    const r = parseEnterpriseConfig('playground:\n  value: yes\n  enforcement: default\n');
    expect(r.errors).toEqual([
      {
        code: 'invalid_type',
        path: '/playground/value',
        message: 'playground.value must be a boolean, not the string "yes"; write true or false, without quotes',
        line: 2,
        column: 10,
      },
    ]);
  });
});

describe('registry', () => {
  const at = (value: unknown) => parseMap({ registry: directive(value) });

  it('accepts api_url with the optional fields', () => {
    const value = {
      api_url: 'https://registry.example.com/api',
      allow_private_ip: true,
      server_api_url: 'http://r:8080',
    };
    expect(at(value)).toEqual({ value: { directives: { registry: directive(value) } }, errors: [], warnings: [] });
  });

  it('checks each field', () => {
    expect(codes(at({}).errors)).toEqual(['missing_field /registry/value/api_url']);
    expect(codes(at('https://r.example.com').errors)).toEqual(['invalid_type /registry/value']);
    expect(codes(at({ api_url: 1, allow_private_ip: 'true', server_api_url: 'ftp://r', apiUrl: 'x' }).errors)).toEqual([
      'unknown_field /registry/value/apiUrl',
      'invalid_type /registry/value/api_url',
      'invalid_type /registry/value/allow_private_ip',
      'invalid_url /registry/value/server_api_url',
    ]);
    expect(at({ apiUrl: 'x', api_url: 'https://r' }).errors[0]?.message).toBe(
      'unknown field "apiUrl"; did you mean "api_url"?',
    );
  });

  it('takes only absolute http and https URLs with a host', () => {
    for (const good of [
      'http://r',
      'https://registry.example.com:8443/api/v1?x=1',
      'HTTPS://R.EXAMPLE.COM',
      'http://[::1]:80/',
    ]) {
      expect(at({ api_url: good }).errors, good).toEqual([]);
    }
    const problems: Record<string, string> = {
      '': 'is not an absolute URL; expected an http or https URL',
      'registry.example.com/api': 'is not an absolute URL; expected an http or https URL',
      'http:registry.example.com': 'is not an absolute URL; expected an http or https URL',
      'ftp://registry.example.com': 'uses "ftp"; expected an http or https URL',
      'https://': 'is not a valid URL; expected an http or https URL',
      'https://exa mple.com': 'contains whitespace or control characters; expected an http or https URL',
      ' https://example.com': 'contains whitespace or control characters; expected an http or https URL',
    };
    for (const [bad, why] of Object.entries(problems)) {
      expect(at({ api_url: bad }).errors, bad).toEqual([
        expect.objectContaining({
          code: 'invalid_url',
          path: '/registry/value/api_url',
          message: `registry.value.api_url ${JSON.stringify(bad)} ${why}`,
        }),
      ]);
    }
  });
});

describe('telemetry', () => {
  const at = (value: unknown) => parseMap({ telemetry: directive(value, 'default') });
  const full = {
    otel_endpoint: 'https://otel.example.com:4318',
    sampling_rate: 0.5,
    tracing_enabled: true,
    metrics_enabled: false,
    headers: { 'X-Team': 'platform' },
    insecure: false,
  };

  it('accepts every field', () => {
    expect(at(full)).toEqual({
      value: { directives: { telemetry: directive(full, 'default') } },
      errors: [],
      warnings: [],
    });
  });

  it('takes an http(s) URL or host:port as otel_endpoint', () => {
    for (const good of [
      'http://collector:4318',
      'https://otel.example.com',
      'collector:4317',
      'otel.obs.svc.cluster.local:4317',
      '10.0.0.7:4317',
      '[::1]:4317',
    ]) {
      expect(at({ otel_endpoint: good }).errors, good).toEqual([]);
    }
    for (const bad of [
      'collector',
      'grpc://collector:4317',
      'collector:0',
      'collector:65536',
      ':4317',
      '',
      'a b:1',
      'collector:43x',
    ]) {
      expect(codes(at({ otel_endpoint: bad }).errors), bad).toEqual(['invalid_url /telemetry/value/otel_endpoint']);
    }
    expect(at({ otel_endpoint: 'collector' }).errors[0]?.message).toBe(
      'telemetry.value.otel_endpoint "collector" is neither an http or https URL nor host:port',
    );
    expect(codes(at({ sampling_rate: 1 }).errors)).toEqual(['missing_field /telemetry/value/otel_endpoint']);
    expect(codes(at({ otel_endpoint: 4317 }).errors)).toEqual(['invalid_type /telemetry/value/otel_endpoint']);
  });

  it('keeps sampling_rate within 0 and 1', () => {
    for (const good of [0, 1, 0.25]) expect(at({ otel_endpoint: 'c:1', sampling_rate: good }).errors).toEqual([]);
    for (const bad of [-0.1, 1.5, 100]) {
      expect(at({ otel_endpoint: 'c:1', sampling_rate: bad }).errors).toEqual([
        expect.objectContaining({
          code: 'out_of_range',
          path: '/telemetry/value/sampling_rate',
          message: `telemetry.value.sampling_rate ${bad} is out of range; expected a number from 0 to 1`,
        }),
      ]);
    }
    expect(
      codes(
        parseEnterpriseConfig('telemetry: {value: {otel_endpoint: "c:1", sampling_rate: .nan}, enforcement: default}')
          .errors,
      ),
    ).toEqual(['out_of_range /telemetry/value/sampling_rate']);
    expect(codes(at({ otel_endpoint: 'c:1', sampling_rate: '0.5' }).errors)).toEqual([
      'invalid_type /telemetry/value/sampling_rate',
    ]);
  });

  it('checks the flags, the headers and unknown fields', () => {
    const r = at({
      otel_endpoint: 'c:1',
      tracing_enabled: 'true',
      metrics_enabled: 1,
      insecure: null,
      headers: { 'X-Retries': 3, 'Bad Name': 'x', 'a/b': 'x', 'X-Injected': 'a\r\nSet-Cookie: x' },
      sample_rate: 1,
    });
    expect(codes(r.errors)).toEqual([
      'unknown_field /telemetry/value/sample_rate',
      'invalid_type /telemetry/value/tracing_enabled',
      'invalid_type /telemetry/value/metrics_enabled',
      'invalid_type /telemetry/value/insecure',
      'invalid_type /telemetry/value/headers/X-Retries',
      'invalid_name /telemetry/value/headers/Bad Name',
      'invalid_name /telemetry/value/headers/a~1b',
      'unsafe_value /telemetry/value/headers/X-Injected',
    ]);
    expect(r.errors[0]?.message).toBe('unknown field "sample_rate"; did you mean "sampling_rate"?');
    expect(codes(at({ otel_endpoint: 'c:1', headers: ['X-Team: a'] }).errors)).toEqual([
      'invalid_type /telemetry/value/headers',
    ]);
  });

  it('warns about headers that look like credentials, at the header', () => {
    const credentials = [
      'Authorization',
      'proxy-authorization',
      'Cookie',
      'SET-COOKIE',
      'X-Auth-Token',
      'X-API-Key',
      'api_key',
      'ApiKey',
      'X-Client-Secret',
      'X-Password',
    ];
    const headers = Object.fromEntries([...credentials, 'X-Team', 'X-Authority-Zone'].map((h) => [h, 'v']));
    const r = at({ otel_endpoint: 'c:1', headers });
    expect(r.errors).toEqual([]);
    expect(r.value).toBeDefined();
    expect(codes(r.warnings)).toEqual(credentials.map((h) => `credential_header /telemetry/value/headers/${h}`));
    expect(r.warnings[0]?.message).toBe(
      'header "Authorization" looks like a credential: telemetry headers are pushed to every client and must not carry secrets',
    );
    const yaml = parseEnterpriseConfig(
      'telemetry:\n  value:\n    otel_endpoint: c:1\n    headers:\n      Authorization: Bearer x\n  enforcement: enforced\n',
    );
    expect(yaml.warnings).toMatchObject([{ code: 'credential_header', line: 5, column: 7 }]);
  });
});

describe('ca_certificate', () => {
  const at = (value: unknown) => parseMap({ ca_certificate: directive(value) });

  it('accepts an inline PEM certificate, or a bundle of them', () => {
    expect(at({ pem: TEST_CERTIFICATE }).errors).toEqual([]);
    expect(at({ pem: `# root\n${TEST_CERTIFICATE}\n${TEST_CERTIFICATE}` }).errors).toEqual([]);
    const yaml = `ca_certificate:\n  value:\n    pem: |\n${TEST_CERTIFICATE.trimEnd()
      .split('\n')
      .map((l) => `      ${l}`)
      .join('\n')}\n  enforcement: enforced\n`;
    expect(parseEnterpriseConfig(yaml).value?.directives.ca_certificate).toEqual(directive({ pem: TEST_CERTIFICATE }));
  });

  it('rejects text that is not a certificate, and private keys', () => {
    expect(at({ pem: 'not a certificate' }).errors).toEqual([
      {
        code: 'invalid_certificate',
        path: '/ca_certificate/value/pem',
        message:
          'ca_certificate.value.pem holds no PEM certificate ("-----BEGIN CERTIFICATE-----" ... "-----END CERTIFICATE-----")',
        line: 4,
        column: 14,
      },
    ]);
    const corrupt = TEST_CERTIFICATE.replace('MIIBiTCCAS+gAwIBAgIU', 'MIIBiTCCAS+gAwIBAgIV');
    const broken = at({ pem: corrupt }).errors;
    expect(codes(broken)).toEqual(['invalid_certificate /ca_certificate/value/pem']);
    expect(broken[0]?.message).toMatch(/^ca_certificate\.value\.pem is not a valid X\.509 certificate: /);
    const second = at({
      pem: `${TEST_CERTIFICATE}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`,
    }).errors;
    expect(second[0]?.message).toMatch(
      /^certificate 2 of ca_certificate\.value\.pem is not a valid X\.509 certificate/,
    );
    const key = '-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----\n';
    expect(at({ pem: `${TEST_CERTIFICATE}${key}` }).errors).toMatchObject([
      {
        code: 'invalid_certificate',
        path: '/ca_certificate/value/pem',
        message: expect.stringContaining('contains a private key'),
      },
    ]);
    expect(codes(at({ pem: 42 }).errors)).toEqual(['invalid_type /ca_certificate/value/pem']);
  });

  it('takes an https url only', () => {
    expect(at({ url: 'https://pki.example.com/root.pem' }).errors).toEqual([]);
    expect(at({ url: 'http://pki.example.com/root.pem' }).errors).toMatchObject([
      {
        code: 'invalid_url',
        path: '/ca_certificate/value/url',
        message: 'ca_certificate.value.url "http://pki.example.com/root.pem" uses "http"; expected an https URL',
      },
    ]);
  });

  it('needs exactly one of pem and url', () => {
    expect(at({ pem: TEST_CERTIFICATE, url: 'https://pki.example.com/root.pem' }).errors).toMatchObject([
      {
        code: 'conflicting_fields',
        path: '/ca_certificate/value',
        message: 'ca_certificate.value has both "pem" and "url"; give exactly one',
      },
    ]);
    expect(at({}).errors).toMatchObject([
      {
        code: 'missing_field',
        path: '/ca_certificate/value',
        message: 'ca_certificate.value needs exactly one of "pem" (an inline PEM certificate) or "url" (https)',
      },
    ]);
    expect(codes(at({ url: 'https://x', path: '/etc/ca.pem' }).errors)).toEqual([
      'unknown_field /ca_certificate/value/path',
    ]);
    expect(codes(at('https://x').errors)).toEqual(['invalid_type /ca_certificate/value']);
  });
});

describe('build_env', () => {
  const at = (value: unknown) => parseMap({ build_env: directive(value) });

  it('accepts upper-case names and plain values', () => {
    const value = {
      NPM_CONFIG_REGISTRY: 'https://npm.example.com/',
      GOPROXY: 'https://p,direct',
      A1_B: 'x & y = $z',
      EMPTY: '',
    };
    expect(at(value).errors).toEqual([]);
  });

  it('rejects names that do not match ^[A-Z][A-Z0-9_]*$, at the key', () => {
    for (const bad of ['npm_registry', '1ST', '_X', 'A-B', 'A.B', '', 'Ä']) {
      expect(codes(at({ [bad]: 'x' }).errors), bad).toEqual([`invalid_name /build_env/value/${bad}`]);
    }
    const r = parseEnterpriseConfig('build_env:\n  value:\n    npm_registry: x\n  enforcement: enforced\n');
    expect(r.errors).toEqual([
      {
        code: 'invalid_name',
        path: '/build_env/value/npm_registry',
        message:
          'build_env variable "npm_registry" is not a valid name: names are upper-case letters, digits and underscores, starting with a letter (^[A-Z][A-Z0-9_]*$); did you mean "NPM_REGISTRY"?',
        line: 3,
        column: 5,
      },
    ]);
  });

  it('rejects every reserved name', () => {
    const reserved = [
      'PATH',
      'HOME',
      'USER',
      'SHELL',
      'PWD',
      'HOSTNAME',
      'TERM',
      'LANG',
      'LC_ALL',
      'LD_PRELOAD',
      'LD_LIBRARY_PATH',
    ];
    const r = at(Object.fromEntries(reserved.map((k) => [k, 'x'])));
    expect(codes(r.errors)).toEqual(reserved.map((k) => `reserved_name /build_env/value/${k}`));
    expect(r.errors[0]?.message).toBe('build_env variable "PATH" is reserved and cannot be set');
  });

  it('rejects shell metacharacters, naming the first one', () => {
    const cases: [string, string][] = [
      ['`id`', 'a backtick'],
      ['$(id)', '"$("'],
      ['${HOME}', '"${"'],
      ['C:\\tmp', 'a backslash'],
      ['a\nb', 'a newline'],
      ['a\rb', 'a carriage return'],
      ['say "hi"', 'a double quote'],
      ['a;b', '";"'],
      ['a && b', '"&&"'],
      ['a || b', '"||"'],
      ['a | b', '"|"'],
      ['a > b', '">"'],
      ['a < b', '"<"'],
      ['x;y|z', '";"'],
    ];
    for (const [value, named] of cases) {
      expect(at({ V: value }).errors, value).toEqual([
        expect.objectContaining({
          code: 'unsafe_value',
          path: '/build_env/value/V',
          message: `build_env variable "V" contains ${named}, which ToolHive rejects in build environment values`,
        }),
      ]);
    }
  });

  it('wants string values and an object', () => {
    expect(at({ PORT: 8080 }).errors).toMatchObject([
      {
        code: 'invalid_type',
        path: '/build_env/value/PORT',
        message:
          'build_env variable "PORT" must be a string, not the number 8080; quote it to make it a string: "8080"',
      },
    ]);
    expect(codes(at(['A=1']).errors)).toEqual(['invalid_type /build_env/value']);
  });
});

describe('degraded_mode', () => {
  const at = (value: unknown) => parseMap({ degraded_mode: value });

  it('reads policy, grace period (also in seconds) and message', () => {
    expect(at({ policy: 'block_new', grace_period: '24h', message: 'offline' }).value).toEqual({
      directives: {},
      degradedMode: { policy: 'block_new', gracePeriod: '24h', gracePeriodSeconds: 86400, message: 'offline' },
    });
    expect(at({ policy: 'warn' }).value).toEqual({ directives: {}, degradedMode: { policy: 'warn' } });
    expect(at({ policy: 'warn', grace_period: '0' }).value?.degradedMode).toEqual({
      policy: 'warn',
      gracePeriod: '0',
      gracePeriodSeconds: 0,
    });
  });

  it('checks each field', () => {
    expect(codes(at({}).errors)).toEqual(['missing_field /degraded_mode/policy']);
    expect(at({ policy: 'block' }).errors).toMatchObject([
      {
        code: 'invalid_value',
        path: '/degraded_mode/policy',
        message: 'unknown degraded_mode.policy "block"; expected one of "warn", "block_new"',
      },
    ]);
    expect(at({ policy: 'blocknew' }).errors[0]?.message).toContain('did you mean "block_new"?');
    expect(codes(at({ policy: 'warn', grace_period: 24 }).errors)).toEqual([
      'invalid_type /degraded_mode/grace_period',
    ]);
    expect(codes(at({ policy: 'warn', message: ['a'] }).errors)).toEqual(['invalid_type /degraded_mode/message']);
    expect(codes(at('warn').errors)).toEqual(['invalid_type /degraded_mode']);
  });

  it('takes a Go duration for grace_period', () => {
    for (const bad of ['1 day', '1d', '24', '-1h', '', 'h']) {
      expect(codes(at({ policy: 'warn', grace_period: bad }).errors), bad).toEqual([
        'invalid_duration /degraded_mode/grace_period',
      ]);
    }
    expect(at({ policy: 'warn', grace_period: '-1h' }).errors[0]?.message).toBe(
      'degraded_mode.grace_period "-1h" is negative',
    );
  });

  it('has no value/enforcement wrapper, and says so', () => {
    const r = at({ value: { policy: 'warn' }, enforcement: 'enforced' });
    expect(codes(r.errors)).toEqual([
      'unknown_field /degraded_mode/value',
      'unknown_field /degraded_mode/enforcement',
      'missing_field /degraded_mode/policy',
    ]);
    expect(r.errors[0]?.message).toBe(
      'unknown field "value"; degraded_mode has no value/enforcement wrapper: write "policy", "grace_period" and "message" directly under it',
    );
  });
});

describe('strings', () => {
  it('rejects unpaired surrogates anywhere in the directives, which Go would replace', () => {
    const r = parseEnterpriseConfig(
      '{"build_env": {"value": {"A": "x\\ud800"}, "enforcement": "default"}, "custom": {"value": {"k\\udc00": 1}, "enforcement": "default"}}',
    );
    expect(codes(r.errors)).toEqual(['invalid_unicode /build_env/value/A', 'invalid_unicode /custom/value/k\udc00']);
  });
});

describe('parseGoDuration', () => {
  const table: [string, number | undefined][] = [
    ['24h', 86400],
    ['1h30m', 5400],
    ['30m', 1800],
    ['1.5h', 5400],
    ['300ms', 0.3],
    ['0', 0],
    ['+0', 0],
    ['0s', 0],
    ['+5s', 5],
    ['2h45m30.5s', 9930.5],
    ['1ns', 1e-9],
    ['1us', 1e-6],
    ['1\u00b5s', 1e-6],
    ['1\u03bcs', 1e-6],
    ['1ms', 0.001],
    ['.5h', 1800],
    ['1.h', 3600],
    ['1h1h', 7200],
    ['2562047h', 9223369200],
    ['', undefined],
    ['+', undefined],
    ['-1h', undefined],
    ['-0', undefined],
    ['1', undefined],
    ['10', undefined],
    ['h', undefined],
    ['.h', undefined],
    ['1d', undefined],
    ['1H', undefined],
    ['1h 30m', undefined],
    [' 1h', undefined],
    ['1.5.h', undefined],
    ['2562048h', undefined],
  ];
  for (const [text, seconds] of table) {
    it(`${JSON.stringify(text)} is ${String(seconds)}`, () => {
      expect(parseGoDuration(text)).toBe(seconds);
    });
  }
});

describe('documentKind', () => {
  it('tells enterprise configs from policies and admin settings by their keys', () => {
    const enterprise = [
      { 'enterprise-manager': {} },
      { enterpriseConfig: {} },
      { degraded_mode: { policy: 'warn' } },
      { llm_gateway: { value: 1, enforcement: 'enforced' } },
      ...KNOWN_DIRECTIVES.map((k) => ({ [k]: {} })),
    ];
    const policies = [{ default: 'allow', rules: [] }, { version: 1 }, { rules: 'x' }];
    const adminSettings = [{ mcpPolicy: { value: '{}' } }, { configurationFileVersion: 2 }];
    for (const v of enterprise) expect(documentKind(v).kind, JSON.stringify(v)).toBe('enterprise-config');
    for (const v of policies) expect(documentKind(v).kind, JSON.stringify(v)).toBe('policy');
    for (const v of adminSettings) expect(documentKind(v).kind, JSON.stringify(v)).toBe('admin-settings');
  });

  it('calls a document with no known key unknown, and one with keys of two kinds ambiguous, naming the kinds', () => {
    for (const v of [{}, { llm_gateway: {} }, { defualt: 'deny' }]) {
      const r = documentKind(v);
      expect(r.issue, JSON.stringify(v)).toMatchObject({ code: 'unknown_document', path: '' });
      expect(r.issue?.message).toMatch(/a policy .* admin settings .* an enterprise config/);
    }
    expect(documentKind({ defualt: 'deny' }).issue?.message).toContain('did you mean "default" for "defualt"?');
    const mixed = documentKind({ default: 'deny', rules: [], registry: {} });
    expect(mixed.issue).toMatchObject({ code: 'ambiguous_document', path: '' });
    expect(mixed.issue?.message).toContain(
      'keys of a policy ("default", "rules") and of an enterprise config ("registry")',
    );
    expect(documentKind({ mcpPolicy: {}, enterpriseConfig: {} }).issue?.code).toBe('ambiguous_document');
  });

  it('leaves values that are not objects, and keyless documents where a kind is expected, to that kind', () => {
    for (const v of [[], null, 'x']) expect(documentKind(v).kind).toBe('policy');
    expect(documentKind({}, ['enterprise-config'], 'enterprise-config').kind).toBe('enterprise-config');
    expect(documentKind({ rules: [] }, ['enterprise-config'], 'enterprise-config').issue).toMatchObject({
      code: 'unexpected_document',
      message: 'the document is a policy (it has "rules"), not an enterprise config',
    });
  });
});

describe('validateLocalSettings', () => {
  it('accepts valid values for known keys and any unknown key', () => {
    expect(
      validateLocalSettings({
        non_registry_servers: true,
        playground: false,
        registry: { api_url: 'https://r.example.com' },
        build_env: { FOO: 'bar' },
        theme: 'dark',
        degraded_mode: 'anything',
      }),
    ).toMatchObject({ errors: [], warnings: [] });
  });

  it('checks known keys with the directive value rules, pointing into the settings', () => {
    const r = validateLocalSettings({
      non_registry_servers: 'true',
      telemetry: { otel_endpoint: 'c:1', sampling_rate: 2 },
      build_env: { PATH: '/x', OK: 'a;b' },
      ca_certificate: { url: 'http://x' },
      registry: { value: { api_url: 'https://r' }, enforcement: 'enforced' },
    });
    expect(codes(r.errors)).toEqual([
      'invalid_type /non_registry_servers',
      'out_of_range /telemetry/sampling_rate',
      'reserved_name /build_env/PATH',
      'unsafe_value /build_env/OK',
      'invalid_url /ca_certificate/url',
      'unknown_field /registry/value',
      'unknown_field /registry/enforcement',
      'missing_field /registry/api_url',
    ]);
    expect(r.errors[0]?.message).toBe(
      'non_registry_servers must be a boolean, not the string "true"; write true or false, without quotes',
    );
    expect(r.errors.every((e) => e.line === undefined && !('atKey' in e))).toBe(true);
  });

  it('needs an object', () => {
    expect(validateLocalSettings([])).toEqual({
      value: undefined,
      errors: [{ code: 'invalid_type', path: '', message: 'local settings must be an object, not an array' }],
      warnings: [],
    });
  });
});

describe('examples/enterprise', () => {
  const files = readdirSync(ENTERPRISE_EXAMPLES).sort();

  it('has the documented examples', () => {
    expect(files).toEqual([
      'advisory-block.yaml',
      'allow-any.yaml',
      'config-map.json',
      'non-registry-enforced.yaml',
      'values.yaml',
    ]);
  });

  for (const file of files) {
    it(`${file} parses with no errors or warnings`, () => {
      const r = parseEnterpriseConfig(readFileSync(join(ENTERPRISE_EXAMPLES, file), 'utf8'));
      expect(r.errors).toEqual([]);
      expect(r.warnings).toEqual([]);
      expect(r.value).toBeDefined();
    });
  }

  it('values.yaml sets every directive and blocks new installs after a day', () => {
    const r = parseEnterpriseConfig(readFileSync(join(ENTERPRISE_EXAMPLES, 'values.yaml'), 'utf8'));
    expect(Object.keys(r.value?.directives ?? {}).sort()).toEqual([...KNOWN_DIRECTIVES].sort());
    expect(r.value?.degradedMode).toMatchObject({
      policy: 'block_new',
      gracePeriod: '24h',
      gracePeriodSeconds: 86400,
    });
    expect(r.value?.degradedMode?.message).toBeTruthy();
    const bare = parseEnterpriseConfig(readFileSync(join(ENTERPRISE_EXAMPLES, 'config-map.json'), 'utf8'));
    expect(Object.keys(bare.value?.directives ?? {}).sort()).toEqual([...KNOWN_DIRECTIVES].sort());
  });

  it('the non-registry servers examples say what the document says', () => {
    const read = (f: string) =>
      parseEnterpriseConfig(readFileSync(join(ENTERPRISE_EXAMPLES, f), 'utf8')).value?.directives;
    expect(read('non-registry-enforced.yaml')).toEqual({ non_registry_servers: directive(false, 'enforced') });
    expect(read('advisory-block.yaml')).toEqual({ non_registry_servers: directive(false, 'default') });
    expect(read('allow-any.yaml')).toEqual({ non_registry_servers: directive(true, 'enforced') });
  });
});

describe('test/cases/enterprise/validation-*.json', () => {
  const files = readdirSync(ENTERPRISE_CASES)
    .filter((f) => f.startsWith('validation-') && f.endsWith('.json'))
    .sort();

  it('exist', () => {
    expect(files.length).toBeGreaterThanOrEqual(10);
  });

  for (const file of files) {
    it(`${file} gets exactly the errors (and warnings) it lists, each with a line and column`, () => {
      const table = JSON.parse(readFileSync(join(ENTERPRISE_CASES, file), 'utf8')) as {
        enterpriseText: string;
        errors: { code: string; path: string }[];
        warnings?: { code: string; path: string }[];
      };
      const r = parseEnterpriseConfig(table.enterpriseText);
      expect(r.value).toBeUndefined();
      expect(codes(r.errors).sort()).toEqual(table.errors.map((e) => `${e.code} ${e.path}`).sort());
      if (table.warnings) {
        expect(codes(r.warnings).sort()).toEqual(table.warnings.map((e) => `${e.code} ${e.path}`).sort());
      }
      for (const issue of [...r.errors, ...r.warnings]) {
        expect(issue.line, `${issue.code} ${issue.path}`).toBeGreaterThan(0);
        expect(issue.column, `${issue.code} ${issue.path}`).toBeGreaterThan(0);
        expect(issue.message).toMatch(/^[a-z"]/);
      }
    });
  }
});
