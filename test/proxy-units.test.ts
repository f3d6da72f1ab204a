/** The proxy's pure parts: facts derived from command lines and URLs, digests, and failing closed. */
import { describe, expect, it } from 'vitest';
import { type Engine } from '../src/engines/engine.js';
import { NativeEngine } from '../src/engines/native.js';
import { DECISION_SLICE, PolicyGate } from '../src/proxy/enforce.js';
import { serverFacts, serverNameFromCommand } from '../src/proxy/facts.js';
import { toolDigest } from '../src/proxy/pins.js';
import { mustParse } from './helpers.js';

describe('server facts', () => {
  it.each([
    [['npx', '-y', '@modelcontextprotocol/server-filesystem', '/data'], 'filesystem'],
    [['npx', '@modelcontextprotocol/server-everything@2026.8.31'], 'everything'],
    [['node_modules/.bin/mcp-server-filesystem', '/d'], 'filesystem'],
    [['node', '/x/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js', '/d'], 'filesystem'],
    [['uvx', 'mcp-server-fetch'], 'fetch'],
    [['github-mcp-server', 'stdio'], 'github'],
    [['/usr/local/bin/sqlite-mcp'], 'sqlite'],
  ])('%j names the server %s', ([command, ...args], name) => {
    expect(serverNameFromCommand(command!, args)).toBe(name);
  });

  it('derives remote facts from a URL and lets options win', () => {
    const url = new URL('https://mcp.example.com/sse');
    expect(serverFacts({ kind: 'url', url, transport: 'sse' })).toEqual({
      server: 'mcp.example.com',
      serverType: 'remote',
      serverSource: 'https://mcp.example.com/sse',
      transport: 'sse',
    });
    expect(serverFacts({ kind: 'command', command: 'npx', args: ['x'] }, { server: 's', serverType: 'image' })).toEqual(
      { server: 's', serverType: 'image', transport: 'stdio' },
    );
    expect(() => serverFacts({ kind: 'command', command: 'x', args: [] }, { serverType: 'docker' })).toThrow(
      'unknown server type "docker"; expected registry, image, remote',
    );
  });
});

describe('tool digests', () => {
  const tool = { name: 't', description: 'd', inputSchema: { type: 'object', properties: { a: { type: 'string' } } } };
  it('ignore key order and fields outside the definition, and see every definition change', () => {
    expect(toolDigest({ inputSchema: tool.inputSchema, description: 'd', name: 't', _meta: { x: 1 } })).toBe(
      toolDigest(tool),
    );
    expect(toolDigest({ ...tool, description: 'd2' })).not.toBe(toolDigest(tool));
    expect(toolDigest({ ...tool, annotations: { destructiveHint: true } })).not.toBe(toolDigest(tool));
    expect(toolDigest({ ...tool, inputSchema: { type: 'object' } })).not.toBe(toolDigest(tool));
  });
});

describe('failing closed', () => {
  const policy = mustParse('{"default":"allow","rules":[]}');
  /** A real engine with an injected fault: its batch evaluation fails, or answers short. */
  function faulty(kind: 'throw' | 'short'): Engine {
    const real = new NativeEngine(policy);
    return {
      name: real.name,
      decide: (r) => real.decide(r),
      decideBatch: async (rs) => {
        if (kind === 'throw') throw new Error('engine crashed');
        return (await real.decideBatch(rs)).slice(1);
      },
      config: (l) => real.config(l),
      close: () => real.close(),
    };
  }
  const facts = { server: 's', transport: 'stdio' as const };

  it('denies calls, prompts and the server, and lists nothing, when the engine fails', async () => {
    for (const kind of ['throw', 'short'] as const) {
      const gate = new PolicyGate(faulty(kind), facts);
      expect((await gate.checkCall('t', undefined)).allowed).toBe(false);
      expect((await gate.checkPrompt('p')).allowed).toBe(false);
      expect((await gate.checkServer('start')).allowed).toBe(false);
      expect(await gate.filterTools([{ name: 'a' }, { name: 'b' }])).toEqual([]);
      expect(await gate.filterPrompts([{ name: 'a' }])).toEqual([]);
    }
    const healthy = new PolicyGate(new NativeEngine(policy), facts);
    expect(await healthy.checkCall('t', undefined)).toEqual({ allowed: true });
  });
});

describe('large listings', () => {
  it('are decided in slices that let other work run in between, with every decision kept in order', async () => {
    const policy = mustParse('{"default":"allow","rules":[{"action":"load","tools":["odd_*"],"deny":true}]}');
    const gate = new PolicyGate(new NativeEngine(policy), { server: 's', transport: 'stdio' });
    const tools = Array.from({ length: DECISION_SLICE * 8 + 3 }, (_, k) => ({
      name: `${k % 2 ? 'odd' : 'even'}_${k}`,
    }));
    let filtering = true;
    let ranBetween = false;
    setImmediate(() => (ranBetween = filtering));
    const shown = await gate.filterTools(tools);
    filtering = false;
    expect(ranBetween).toBe(true);
    expect(shown).toEqual(tools.filter((_, k) => k % 2 === 0));
  });
});

describe('proxy decision log', () => {
  it('refuses standard output over stdio, where it is the MCP stream, before starting anything', async () => {
    const { startProxy } = await import('../src/proxy/proxy.js');
    const policy = mustParse(JSON.stringify({ version: 1, default: 'allow', rules: [] }));
    const target = { kind: 'command', command: 'node', args: ['-e', ''] } as const;
    const start = startProxy({
      engine: new NativeEngine(policy),
      target,
      facts: serverFacts(target),
      listen: 'stdio',
      decisionLog: '-',
    });
    await expect(start).rejects.toMatchObject({ code: 'usage', message: expect.stringMatching(/stdio MCP stream/) });
  });
});
