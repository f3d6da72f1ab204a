/**
 * Raw JSON-RPC against the proxy: lines written straight to a proxy process's
 * stdin or POSTed to its HTTP endpoint, with the recording test server behind
 * it, so messages no SDK client would send can be tried.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { CLI, tempDir } from './helpers.js';

export const RAW_SERVER = join(ROOT, 'test', 'proxy', 'raw-server.mjs');

/** A JSON-RPC message as the tests read it. */
export type Message = {
  readonly jsonrpc?: string;
  readonly id?: string | number;
  readonly method?: string;
  readonly params?: Record<string, unknown>;
  readonly result?: Record<string, unknown>;
  readonly error?: { readonly code: number; readonly message: string; readonly data?: { readonly code?: string } };
};

/** Every message the test server received, in order. */
export function received(record: string): Message[] {
  if (!existsSync(record)) return [];
  return readFileSync(record, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Message);
}

const DEADLINE_MS = 120_000;

/** `mcp-policy proxy` over stdio, driven line by line. */
export class RawStdioProxy {
  /** Where the test server records what it receives. */
  readonly record: string;
  readonly messages: Message[] = [];
  private stderrText = '';
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiters = new Set<() => void>();
  /** Settles with the exit code when the proxy exits. */
  readonly exited: Promise<number | null>;

  constructor(proxyArgs: readonly string[], serverEnv: Record<string, string> = {}) {
    this.record = join(tempDir('mcp-policy-raw-'), 'received.jsonl');
    this.child = spawn(process.execPath, [CLI, 'proxy', ...proxyArgs, '--', process.execPath, RAW_SERVER], {
      env: { ...process.env, ...serverEnv, RECORD: this.record },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let buffer = '';
    this.child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        this.messages.push(JSON.parse(buffer.slice(0, nl)) as Message);
        buffer = buffer.slice(nl + 1);
      }
      this.wake();
    });
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderrText += d.toString();
      this.wake();
    });
    this.exited = new Promise((resolve) =>
      this.child.on('close', (code) => {
        this.wake();
        resolve(code);
      }),
    );
  }

  get stderr(): string {
    return this.stderrText;
  }

  private wake(): void {
    for (const w of this.waiters) w();
  }

  /** Resolves with the first value `find` returns, re-checked on every output; fails when the proxy exits first. */
  private until<T>(find: () => T | undefined, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const deadline = setTimeout(
        () => done(new Error(`no ${what} within ${DEADLINE_MS} ms: ${this.stderrText}`)),
        DEADLINE_MS,
      );
      const check = () => {
        const found = find();
        if (found !== undefined) return done(undefined, found);
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done(new Error(`the proxy exited before ${what}: ${this.stderrText}`));
        }
      };
      const done = (error?: Error, value?: T) => {
        clearTimeout(deadline);
        this.waiters.delete(check);
        if (error) reject(error);
        else resolve(value as T);
      };
      this.waiters.add(check);
      check();
    });
  }

  send(message: Record<string, unknown>): void {
    this.child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`);
  }

  /** Sends a request and waits for the answer with its id. */
  async request(id: string | number, method: string, params?: Record<string, unknown>): Promise<Message> {
    this.send({ id, method, ...(params !== undefined && { params }) });
    return this.answer(id);
  }

  /** The first answer (result or error) with this id. */
  answer(id: string | number): Promise<Message> {
    return this.until(() => this.answers(id)[0], `answer to ${JSON.stringify(id)}`);
  }

  /** Every answer with this id so far. */
  answers(id: string | number): Message[] {
    return this.messages.filter((m) => m.id === id && m.method === undefined);
  }

  /** Waits until stderr shows `pattern`. */
  async stderrMatching(pattern: RegExp): Promise<void> {
    await this.until(() => (pattern.test(this.stderrText) ? true : undefined), `stderr matching ${pattern}`);
  }

  /** The initialize handshake, as any client starts. */
  async initialize(): Promise<Message> {
    const r = await this.request('init', 'initialize', {
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: 'raw', version: '1.0.0' },
    });
    this.send({ method: 'notifications/initialized' });
    return r;
  }

  /**
   * A ping round trip: the proxy relays each direction in order, so once it is
   * answered the server has received everything sent before it.
   */
  async sync(id: string): Promise<void> {
    const r = await this.request(id, 'ping');
    if (r.result === undefined) throw new Error(`ping failed: ${JSON.stringify(r)}`);
  }

  /** Closes the proxy's input (the client leaving) and waits for it to exit. */
  async close(): Promise<number | null> {
    this.child.stdin.end();
    return this.exited;
  }
}
