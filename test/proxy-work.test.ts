/**
 * What the proxy's decisions cost and what their records say, end to end
 * with `mcp-policy proxy` and the real SDK client in front of the real
 * filesystem and everything servers: a request whose arguments would hold the
 * event loop is refused before it is decided (work_too_large) while other
 * sessions are answered, and decision records name the argument paths of
 * the rule that decided, from a policy file and from a compiled bundle.
 */
import { type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policyProfile } from '../src/host/policy-profile.js';
import { generatePolicy } from '../src/pipeline/build.js';
import { type Policy } from '../src/policy/model.js';
import {
  bundleFile,
  type Connected,
  EVERYTHING,
  FILESYSTEM,
  runProxyToExit,
  startHttpProxy,
  stop,
  tempDir,
  text,
  viaStdioProxy,
} from './proxy/helpers.js';

const POLICY_DENIED = -32003;

function records(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Polls the decision log until a record matches (records are written after the answer). */
async function recordWhere(file: string, match: (r: Record<string, unknown>) => boolean, what: string) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = records(file).find(match);
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`no decision record of ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function rpcError(work: Promise<unknown>): Promise<{ code: number; message: string; data?: unknown }> {
  try {
    await work;
  } catch (e) {
    return e as { code: number; message: string; data?: unknown };
  }
  throw new Error('expected the request to be refused');
}

const action = (r: Record<string, unknown>) => (r.request as { action?: string } | null)?.action;

describe('a call whose arguments would hold the proxy (HTTP, filesystem server)', () => {
  let dir: string;
  let log: string;
  let proxy: { url: URL; child: ChildProcess; stderr: () => string };

  beforeAll(async () => {
    dir = tempDir();
    writeFileSync(join(dir, 'hello.txt'), 'hi\n');
    log = join(tempDir(), 'decisions.jsonl');
    // 256 `*` patterns tried against every element of a `*` path: each element costs 257 pattern matches.
    const folders = Array.from({ length: 255 }, (_, k) => `${dir}/area-${k}/*`);
    const policy = {
      version: 2,
      default: 'deny',
      rules: [
        {
          action: 'invoke',
          tools: ['read_multiple_files'],
          arguments: [{ path: '/paths/*', match: [`${dir}/*`, ...folders], normalize: 'path' }],
          allow: true,
          reason: 'reading in the folder',
        },
        { action: 'load', allow: true },
      ],
    };
    const file = join(tempDir(), 'policy.json');
    writeFileSync(file, JSON.stringify(policy));
    proxy = await startHttpProxy([
      file,
      '--engine',
      'native',
      '--decision-log',
      log,
      '--',
      process.execPath,
      FILESYSTEM,
      dir,
    ]);
  });
  afterAll(() => stop(proxy.child));

  const connect = async (): Promise<Client> => {
    const client = new Client({ name: 'proxy-work-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(proxy.url));
    return client;
  };

  it('is refused before deciding with work_too_large, while another session is answered', async () => {
    const [mallory, alice] = await Promise.all([connect(), connect()]);
    try {
      const paths = Array.from({ length: 100_000 }, (_, k) => `f${k}`);
      const huge = mallory.callTool({ name: 'read_multiple_files', arguments: { paths } });
      const hello = join(dir, 'hello.txt');
      const [listed, read] = await Promise.all([
        alice.listTools(),
        alice.callTool({ name: 'read_multiple_files', arguments: { paths: [hello] } }),
      ]);
      expect(listed.tools.map((t) => t.name)).toContain('read_multiple_files');
      expect(text(read)).toContain('hi');

      const refused = await huge;
      expect(refused.isError).toBe(true);
      const denial = {
        denied: true,
        rule: null,
        code: 'work_too_large',
        reason: expect.stringMatching(/^the request needs about \d+ rule checks on this policy .*the limit is 50000$/),
      };
      expect(refused.structuredContent).toEqual(denial);
      expect((refused._meta as Record<string, unknown>)['io.github.mcp-policy/denial']).toEqual(denial);
      expect(text(refused)).toContain('refused tool "read_multiple_files" on server "filesystem"');

      // A short call of the same session is still decided by the policy.
      const again = await mallory.callTool({ name: 'read_multiple_files', arguments: { paths: [hello] } });
      expect(text(again)).toContain('hi');
    } finally {
      await Promise.all([mallory.close(), alice.close()]);
    }
    const record = await recordWhere(
      log,
      (r) => (r.decision as { error?: string }).error === 'work_too_large',
      'the refused call',
    );
    expect(record).toMatchObject({ stage: 'tools/call', decision: { allowed: false, rule: null } });
    expect(action(record)).toBe('invoke');
    expect(record.argument_paths).toBeUndefined();
  });

  it('names the argument paths of the deciding rule in the record', async () => {
    const client = await connect();
    try {
      await client.callTool({ name: 'read_multiple_files', arguments: { paths: [join(dir, 'hello.txt')] } });
    } finally {
      await client.close();
    }
    const record = await recordWhere(
      log,
      (r) => r.stage === 'tools/call' && action(r) === 'invoke' && (r.decision as { rule?: unknown }).rule === 0,
      'the allowed call',
    );
    expect(record.argument_paths).toEqual(['/paths/*']);
    expect((record.request as { arguments?: unknown }).arguments).toEqual({ paths: ['string'] });
    // The load check was decided by a rule without argument conditions.
    const load = await recordWhere(log, (r) => r.stage === 'tools/call' && action(r) === 'load', 'the load check');
    expect(load.argument_paths).toBeUndefined();
  });
});

describe('a compiled bundle behind a stdio proxy (everything server, --max-work)', () => {
  let c: Connected;
  let log: string;
  const policy: Policy = {
    version: 2,
    default: 'deny',
    rules: [
      {
        action: 'prompt',
        tools: ['args-prompt'],
        arguments: [
          { path: '/city', in: ['Paris', 'Lyon'] },
          { path: '/*', match: Array.from({ length: 64 }, (_, k) => `*${k}*`), not: true },
        ],
        allow: true,
        reason: 'French cities, no digits',
      },
      { action: 'prompt', allow: false, reason: 'no other prompt' },
      { allow: true },
    ],
  };

  beforeAll(async () => {
    log = join(tempDir(), 'decisions.jsonl');
    c = await viaStdioProxy([
      await bundleFile(policy),
      '--max-work',
      '2000',
      '--decision-log',
      log,
      '--server',
      'everything',
      '--',
      process.execPath,
      EVERYTHING,
      'stdio',
    ]);
  });
  afterAll(() => c.close());

  it('records the paths of the deciding rule, read from the bundle', async () => {
    const paris = await c.client.getPrompt({ name: 'args-prompt', arguments: { city: 'Paris', state: 'IDF' } });
    expect(JSON.stringify(paris.messages)).toContain('Paris');
    const record = await recordWhere(log, (r) => r.stage === 'prompts/get', 'the prompt');
    expect(record.decision).toMatchObject({ allowed: true, rule: 0 });
    expect(record.argument_paths).toEqual(['/city', '/*']);
    expect(JSON.stringify(record)).not.toContain('IDF');
  });

  it('refuses a request past --max-work with the denial code and work_too_large', async () => {
    // 64 argument values against 65 patterns each: about 261 times a short request, past 2,000 rule checks.
    const args = Object.fromEntries(Array.from({ length: 63 }, (_, k) => [`note${k}`, 'x']));
    const err = await rpcError(c.client.getPrompt({ name: 'args-prompt', arguments: { city: 'Paris', ...args } }));
    expect(err.code).toBe(POLICY_DENIED);
    expect(err.data).toMatchObject({ code: 'work_too_large', rule: null });
    expect((err.data as { reason: string }).reason).toMatch(/the limit is 2000$/);
  });

  it('refuses --max-work that is not a positive whole number', async () => {
    const r = await runProxyToExit([
      await bundleFile(policy),
      '--max-work',
      '0',
      '--',
      process.execPath,
      EVERYTHING,
      'stdio',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--max-work must be a whole number of at least 1, not "0"');
  });
});

describe('policy profile', () => {
  it('reads the argument pointers of every rule as written, and none from a version 1 policy', () => {
    const v2: Policy = {
      version: 2,
      default: 'deny',
      rules: [
        {
          action: 'invoke',
          arguments: [
            { path: '/a~1b/0/*', present: true },
            { path: '', equals: 1 },
          ],
          allow: true,
        },
        { action: 'invoke', tools: ['x'], arguments: [{ path: '/x~0y', min: 1 }], allow: false },
        { action: 'load', allow: true },
      ],
    };
    const profile = policyProfile(JSON.parse(generatePolicy(v2).data) as unknown);
    expect(profile.argumentPaths).toEqual([['/a~1b/0/*', ''], ['/x~0y'], []]);
    expect(profile.patternWeight).toBe(1);
    const v1: Policy = { version: 1, default: 'allow', rules: [{ action: 'load', tools: ['a', 'b'], allow: false }] };
    expect(policyProfile(JSON.parse(generatePolicy(v1).data) as unknown).argumentPaths).toEqual([[]]);
    expect(policyProfile({ not: 'a policy' })).toMatchObject({ argumentPaths: [], patternWeight: 1 });
  });
});
