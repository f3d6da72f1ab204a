/** Shared plumbing of the proxy tests: real SDK clients, the real MCP servers from node_modules, the built CLI. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { compilePolicy } from '../../src/pipeline/build.js';
import { type Policy } from '../../src/policy/model.js';
import { EXAMPLES, ROOT } from '../helpers.js';

export const CLI = join(ROOT, 'bin', 'mcp-policy.js');
export const FILESYSTEM = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-filesystem', 'dist', 'index.js');
export const EVERYTHING = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');

export function tempDir(prefix = 'mcp-policy-proxy-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Compiles a policy to a bundle.tar.gz in a temporary folder and returns its path. */
export async function bundleFile(policy: Policy): Promise<string> {
  const file = join(tempDir('mcp-policy-bundle-'), 'bundle.tar.gz');
  writeFileSync(file, (await compilePolicy(policy)).bundle);
  return file;
}

/** Child processes' stderr, for assertions on the proxy's messages. */
export interface Connected {
  readonly client: Client;
  readonly stderr: () => string;
  close(): Promise<void>;
}

const CLIENT_INFO = { name: 'proxy-test', version: '1.0.0' };

async function connect(transport: Transport, capabilities: Record<string, unknown> = {}): Promise<Client> {
  const client = new Client(CLIENT_INFO, { capabilities });
  await client.connect(transport);
  return client;
}

/** A real SDK client talking to `mcp-policy proxy <proxyArgs>` over stdio. */
export async function viaStdioProxy(
  proxyArgs: readonly string[],
  capabilities: Record<string, unknown> = {},
  setup?: (client: Client) => void,
): Promise<Connected> {
  const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'proxy', ...proxyArgs],
    env,
    stderr: 'pipe',
  });
  let err = '';
  transport.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const client = new Client(CLIENT_INFO, { capabilities });
  setup?.(client);
  await client.connect(transport);
  return { client, stderr: () => err, close: () => client.close() };
}

/** A real SDK client talking to a server command directly (the reference the proxy must not change). */
export async function direct(
  command: string,
  args: readonly string[],
  capabilities: Record<string, unknown> = {},
): Promise<Connected> {
  const transport = new StdioClientTransport({ command, args: [...args], stderr: 'ignore' });
  const client = await connect(transport, capabilities);
  return { client, stderr: () => '', close: () => client.close() };
}

/** Runs the proxy CLI to completion (for start-up refusals); resolves with its exit code and stderr. */
export function runProxyToExit(proxyArgs: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'proxy', ...proxyArgs], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** Starts `mcp-policy proxy --listen http://127.0.0.1:0/mcp …` and resolves with the URL it prints. */
export function startHttpProxy(
  proxyArgs: readonly string[],
): Promise<{ url: URL; child: ChildProcess; stderr: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'proxy', '--listen', 'http://127.0.0.1:0/mcp', ...proxyArgs], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m?.[1]) resolve({ url: new URL(m[1]), child, stderr: () => stderr });
    });
    // 'exit', not 'close': a server the proxy started shares its stderr and can hold it open after the proxy died.
    child.once('exit', (code, signal) =>
      reject(new Error(`proxy exited (${code ?? signal}) before listening: ${stderr}`)),
    );
  });
}

/** A real SDK client over streamable HTTP. */
export async function viaHttp(
  url: URL,
  capabilities: Record<string, unknown> = {},
  setup?: (client: Client) => void,
): Promise<Connected> {
  const client = new Client(CLIENT_INFO, { capabilities });
  setup?.(client);
  await client.connect(new StreamableHTTPClientTransport(url));
  return { client, stderr: () => '', close: () => client.close() };
}

/** Stops a child process and waits for it. */
export function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('close', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Text of the first content item of a tool result. */
export function text(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.map((c) => c.text ?? '').join('');
}

/** Proxy arguments for the filesystem server under the block-server example, named so that its load is denied. */
export function deniedServerArgs(dir: string): string[] {
  return [
    join(EXAMPLES, 'block-server.json'),
    '--engine',
    'native',
    '--server',
    'untrusted-server',
    '--',
    process.execPath,
    FILESYSTEM,
    dir,
  ];
}
