/** Tool pinning end to end: a real SDK server whose tool definition changes, behind `mcp-policy proxy --pin`. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';
import { type Connected, tempDir, text, viaStdioProxy } from './proxy/helpers.js';

const SERVER = join(ROOT, 'test', 'proxy', 'changing-server.mjs');
const POLICY = join(ROOT, 'examples', 'block-tools.json');

function lockOf(file: string): { version: number; servers: Record<string, Record<string, string>> } {
  return JSON.parse(readFileSync(file, 'utf8')) as { version: number; servers: Record<string, Record<string, string>> };
}

async function proxied(
  lock: string,
  description?: string,
  ...flags: string[]
): Promise<Connected & { changes: () => number }> {
  let changes = 0;
  if (description !== undefined) process.env.GREET_DESCRIPTION = description;
  else delete process.env.GREET_DESCRIPTION;
  const c = await viaStdioProxy(
    [POLICY, '--engine', 'native', '--pin', lock, ...flags, '--', process.execPath, SERVER],
    {},
    (client) => client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changes++),
  );
  return { ...c, changes: () => changes };
}

const names = async (c: Connected) => (await c.client.listTools()).tools.map((t) => t.name);

describe('tool pinning', () => {
  let lock: string;
  beforeAll(() => {
    lock = join(tempDir(), 'tools.lock');
  });

  it('records every approved tool of the first listing and lets them through', async () => {
    const c = await proxied(lock);
    try {
      expect(await names(c)).toEqual(['greet', 'mutate']);
      expect(existsSync(lock)).toBe(true);
      const recorded = lockOf(lock);
      expect(recorded.version).toBe(1);
      expect(Object.keys(recorded.servers.changing ?? {})).toEqual(['greet', 'mutate']);
      expect(recorded.servers.changing?.greet).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(text(await c.client.callTool({ name: 'greet', arguments: { who: 'ada' } }))).toBe('hello ada');
    } finally {
      await c.close();
    }
  });

  it('withholds a tool whose definition changed during the session, after list_changed', async () => {
    const before = readFileSync(lock, 'utf8');
    const c = await proxied(lock);
    try {
      expect(await names(c)).toEqual(['greet', 'mutate']);
      expect(text(await c.client.callTool({ name: 'mutate', arguments: {} }))).toBe('mutated');
      await expect.poll(() => c.changes()).toBeGreaterThan(0);
      expect(await names(c)).toEqual(['mutate']);
      const r = await c.client.callTool({ name: 'greet', arguments: { who: 'ada' } });
      expect(r.isError).toBe(true);
      expect(text(r)).toBe(`tool "greet" changed since it was pinned in ${lock}; review it and run with --pin-update`);
      expect(readFileSync(lock, 'utf8')).toBe(before);
    } finally {
      await c.close();
    }
  });

  it('blocks a changed definition at start, even when the client calls without listing', async () => {
    const c = await proxied(lock, 'Greets someone, now with side effects');
    try {
      const r = await c.client.callTool({ name: 'greet', arguments: { who: 'ada' } });
      expect(text(r)).toMatch(/^tool "greet" changed since it was pinned/);
      expect(await names(c)).toEqual(['mutate']);
    } finally {
      await c.close();
    }
  });

  it('--pin-update records the new definition, after which it is allowed again', async () => {
    const old = lockOf(lock).servers.changing?.greet;
    const u = await proxied(lock, 'Greets someone, now with side effects', '--pin-update');
    try {
      expect(await names(u)).toEqual(['greet', 'mutate']);
    } finally {
      await u.close();
    }
    const updated = lockOf(lock).servers.changing?.greet;
    expect(updated).not.toBe(old);
    const c = await proxied(lock, 'Greets someone, now with side effects');
    try {
      expect(text(await c.client.callTool({ name: 'greet', arguments: { who: 'ada' } }))).toBe('hello ada');
    } finally {
      await c.close();
    }
  });

  it('records exactly the first listing: a tool that changes later in that session is a mismatch', async () => {
    const fresh = join(tempDir(), 'tools.lock');
    const c = await proxied(fresh);
    try {
      expect(await names(c)).toEqual(['greet', 'mutate']);
      const recorded = readFileSync(fresh, 'utf8');
      expect(text(await c.client.callTool({ name: 'mutate', arguments: {} }))).toBe('mutated');
      await expect.poll(() => c.changes()).toBeGreaterThan(0);
      expect(await names(c)).toEqual(['mutate']);
      const r = await c.client.callTool({ name: 'greet', arguments: { who: 'ada' } });
      expect(text(r)).toBe(`tool "greet" changed since it was pinned in ${fresh}; review it and run with --pin-update`);
      expect(readFileSync(fresh, 'utf8')).toBe(recorded);
    } finally {
      await c.close();
    }
  });

  it('records the first listing the proxy makes itself when the client calls before listing', async () => {
    const fresh = join(tempDir(), 'tools.lock');
    const c = await proxied(fresh);
    try {
      expect(text(await c.client.callTool({ name: 'greet', arguments: { who: 'ada' } }))).toBe('hello ada');
      expect(Object.keys(lockOf(fresh).servers.changing ?? {})).toEqual(['greet', 'mutate']);
    } finally {
      await c.close();
    }
  });

  it('rejects a malformed lock file with a located error', async () => {
    const { runProxyToExit } = await import('./proxy/helpers.js');
    const bad = join(tempDir(), 'bad.lock');
    (await import('node:fs')).writeFileSync(bad, '{"version":1,"servers":{"x":{"t":"md5:1"}}}');
    const r = await runProxyToExit([POLICY, '--engine', 'native', '--pin', bad, '--', process.execPath, SERVER]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}: /servers/x/t: not a digest: "md5:1" (invalid_lock_file)`);
  });
});
