/**
 * End to end: a real SDK client ↔ `mcp-policy proxy` (the built CLI) ↔ the real
 * published MCP servers from node_modules, over stdio.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLES, mustParse } from './helpers.js';
import {
  bundleFile,
  deniedServerArgs,
  type Connected,
  direct,
  EVERYTHING,
  FILESYSTEM,
  runProxyToExit,
  tempDir,
  text,
  viaStdioProxy,
} from './proxy/helpers.js';

const ALLOWLIST = {
  version: 1,
  default: 'deny',
  rules: [
    { action: 'load', server: 'filesystem', tools: ['read_*', 'list_*'], allow: true },
    { action: 'load', server: 'filesystem', tools: ['*'], allow: false, reason: 'not on the allowlist' },
    { action: 'load', server: 'filesystem', allow: true },
    { action: 'invoke', server: 'filesystem', tools: ['read_text_file', 'list_directory'], allow: true },
  ],
};

const PROMPTS = {
  version: 1,
  default: 'allow',
  rules: [
    { action: 'prompt', server: 'everything', tools: ['args-*'], allow: false, reason: 'no prompts with arguments' },
  ],
};

let dir: string;
let allFilesystemTools: string[];

beforeAll(async () => {
  dir = tempDir();
  writeFileSync(join(dir, 'hello.txt'), 'hello from the filesystem server\n');
  const d = await direct(process.execPath, [FILESYSTEM, dir]);
  allFilesystemTools = (await d.client.listTools()).tools.map((t) => t.name);
  await d.close();
  expect(allFilesystemTools).toContain('write_file');
});

function fsProxy(policyFile: string, ...extra: string[]): Promise<Connected> {
  return viaStdioProxy([policyFile, ...extra, '--', process.execPath, FILESYSTEM, dir]);
}

describe('block-tools example (invoke write_file/delete_file denied on filesystem)', () => {
  let c: Connected;
  let log: string;
  beforeAll(async () => {
    log = join(tempDir(), 'decisions.jsonl');
    c = await fsProxy(
      await bundleFile(mustParse(readFileSync(join(EXAMPLES, 'block-tools.json'), 'utf8'))),
      '--decision-log',
      log,
    );
  });
  afterAll(() => c.close());

  it('lists every tool (load is not restricted)', async () => {
    expect((await c.client.listTools()).tools.map((t) => t.name)).toEqual(allFilesystemTools);
  });

  it('denies write_file with the policy reason, and the server never sees the call', async () => {
    const target = join(dir, 'written.txt');
    const result = await c.client.callTool({ name: 'write_file', arguments: { path: target, content: 'x' } });
    expect(result.isError).toBe(true);
    expect(text(result)).toBe('policy denied tool "write_file" on server "filesystem": Prevent file modifications');
    expect(existsSync(target)).toBe(false);
  });

  it('passes allowed calls through with the server result', async () => {
    const result = await c.client.callTool({ name: 'read_text_file', arguments: { path: join(dir, 'hello.txt') } });
    expect(result.isError).toBeFalsy();
    expect(text(result)).toBe('hello from the filesystem server\n');
  });

  it('logs each decision as a JSON line', () => {
    const entries = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { stage: string; decision: { allowed: boolean } });
    expect(entries[0]).toMatchObject({
      stage: 'start',
      request: { action: 'load', server: 'filesystem', transport: 'stdio' },
    });
    expect(entries[0]?.decision.allowed).toBe(true);
    const denied = entries.find((e) => e.stage === 'tools/call' && e.decision.allowed === false);
    expect(denied).toMatchObject({
      request: { action: 'invoke', tool: 'write_file' },
      decision: { allowed: false, reason: 'Prevent file modifications', rule: 1 },
    });
  });
});

describe('default deny with load and invoke allowlists', () => {
  let c: Connected;
  beforeAll(async () => {
    c = await fsProxy(await bundleFile(mustParse(JSON.stringify(ALLOWLIST))));
  });
  afterAll(() => c.close());

  it('lists exactly the tools whose load is allowed', async () => {
    const listed = (await c.client.listTools()).tools.map((t) => t.name);
    expect(listed).toEqual(allFilesystemTools.filter((n) => /^(read_|list_)/.test(n)));
  });

  it('allows an invoke-allowed tool and denies a listed tool without an invoke rule', async () => {
    expect(text(await c.client.callTool({ name: 'list_directory', arguments: { path: dir } }))).toContain('hello.txt');
    const denied = await c.client.callTool({ name: 'read_file', arguments: { path: join(dir, 'hello.txt') } });
    expect(denied.isError).toBe(true);
    expect(text(denied)).toMatch(/^policy denied tool "read_file" on server "filesystem": /);
  });

  it('denies a call to a tool that was filtered out of the listing; nothing is written', async () => {
    const target = join(dir, 'sneaky.txt');
    const result = await c.client.callTool({ name: 'write_file', arguments: { path: target, content: 'x' } });
    expect(text(result)).toBe('policy denied tool "write_file" on server "filesystem": not on the allowlist');
    expect(existsSync(target)).toBe(false);
  });
});

describe('start-up load checks', () => {
  it('exits with the reason when the server may not load (block-server example)', async () => {
    const r = await runProxyToExit(deniedServerArgs(dir));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'policy denied loading server "untrusted-server": This server is not approved for organizational use (server_denied)',
    );
  });

  it('reports a server command that cannot start', async () => {
    const r = await runProxyToExit([join(EXAMPLES, 'block-tools.json'), '--engine', 'native', '--', '/no/such/server']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot start the server: .*ENOENT.* \(server_start_failed\)/);
  });

  it('takes the server and its facts from a config file', async () => {
    const config = join(tempDir(), 'proxy.json');
    writeFileSync(config, JSON.stringify({ server: 'untrusted-server', command: [process.execPath, FILESYSTEM, dir] }));
    const r = await runProxyToExit([join(EXAMPLES, 'block-server.json'), '--engine', 'native', '--config', config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('policy denied loading server "untrusted-server"');
    writeFileSync(config, '{"server": "x", "command": ["node", 3]}');
    const bad = await runProxyToExit([join(EXAMPLES, 'block-server.json'), '--engine', 'native', '--config', config]);
    expect(bad.stderr).toContain(`${config}: /command/1: must be a string (invalid_proxy_config)`);
  });

  it('default deny without a load rule for the server refuses it (default-deny-load-invoke example)', async () => {
    const r = await runProxyToExit([
      join(EXAMPLES, 'default-deny-load-invoke.json'),
      '--',
      process.execPath,
      FILESYSTEM,
      dir,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('policy denied loading server "filesystem"');
  });

  it('production example: a registry server from docker.io/mcp loads, destructive and unlisted invokes are denied', async () => {
    const c = await fsProxy(
      join(EXAMPLES, 'production.json'),
      '--server-type',
      'registry',
      '--server-source',
      'docker.io/mcp/filesystem:latest',
    );
    try {
      expect((await c.client.listTools()).tools.map((t) => t.name)).toEqual(allFilesystemTools);
      const r = await c.client.callTool({ name: 'list_directory', arguments: { path: dir } });
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(/^policy denied tool "list_directory" on server "filesystem": /);
    } finally {
      await c.close();
    }
  });
});

describe('server-everything: prompts, resources, notifications and server requests', () => {
  let c: Connected;
  let reference: Connected;
  const progress: number[] = [];
  let sampled = '';
  const capabilities = { sampling: {} };
  beforeAll(async () => {
    const { CreateMessageRequestSchema } = await import('@modelcontextprotocol/sdk/types.js');
    c = await viaStdioProxy(
      [
        await bundleFile(mustParse(JSON.stringify(PROMPTS))),
        '--server',
        'everything',
        '--',
        process.execPath,
        EVERYTHING,
        'stdio',
      ],
      capabilities,
      (client) =>
        client.setRequestHandler(CreateMessageRequestSchema, (req) => {
          const first = req.params.messages[0]?.content;
          sampled = first && 'text' in first ? String(first.text) : '';
          return { model: 'test-model', role: 'assistant', content: { type: 'text', text: 'sampled reply' } };
        }),
    );
    reference = await direct(process.execPath, [EVERYTHING, 'stdio'], capabilities);
  });
  afterAll(async () => {
    await c.close();
    await reference.close();
  });

  it('filters prompts from the listing and denies getting them', async () => {
    const all = (await reference.client.listPrompts()).prompts.map((p) => p.name);
    expect(all).toContain('args-prompt');
    expect((await c.client.listPrompts()).prompts.map((p) => p.name)).toEqual(
      all.filter((n) => !n.startsWith('args-')),
    );
    const err = await c.client
      .getPrompt({ name: 'args-prompt', arguments: { city: 'Paris' } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McpError);
    expect((err as McpError).message).toContain(
      'policy denied prompt "args-prompt" on server "everything": no prompts with arguments',
    );
    const simple = await c.client.getPrompt({ name: 'simple-prompt' });
    expect(simple).toEqual(await reference.client.getPrompt({ name: 'simple-prompt' }));
  });

  it('passes resources through unchanged', async () => {
    const listed = await c.client.listResources();
    expect(listed).toEqual(await reference.client.listResources());
    const first = listed.resources[0]!;
    expect(await c.client.readResource({ uri: first.uri })).toEqual(
      await reference.client.readResource({ uri: first.uri }),
    );
    expect(await c.client.listResourceTemplates()).toEqual(await reference.client.listResourceTemplates());
  });

  it('passes progress notifications to the caller as the server sends them', async () => {
    const call = async (client: Connected['client'], into: number[]) =>
      text(
        await client.callTool(
          { name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } },
          undefined,
          { onprogress: (p) => into.push(p.progress) },
        ),
      );
    const expected: number[] = [];
    expect(await call(c.client, progress)).toEqual(await call(reference.client, expected));
    // The SDK client may drop the last progress when it arrives with the result, directly as well.
    expect(expected.slice(0, 2)).toEqual([1, 2]);
    expect([
      [1, 2],
      [1, 2, 3],
    ]).toContainEqual(progress);
  });

  it("relays the server's sampling request to the client and the answer back", async () => {
    const result = await c.client.callTool({
      name: 'trigger-sampling-request',
      arguments: { prompt: 'say hi', maxTokens: 10 },
    });
    expect(sampled).toContain('say hi');
    expect(text(result)).toContain('sampled reply');
  });

  it('lists the same tools as the server (no tool rule applies)', async () => {
    expect((await c.client.listTools()).tools).toEqual((await reference.client.listTools()).tools);
  });
});
