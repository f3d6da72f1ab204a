/** Shared plumbing of the decision-service tests: a real HTTP client over a unix socket or TCP, and bundles. */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePolicy, type CompileExtras } from '../src/pipeline/build.js';
import { loadPolicyText } from '../src/policy/validate.js';
import { ROOT } from './helpers.js';

/** Where a test service listens. */
export type Target = { readonly socket: string } | { readonly port: number };

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  json(): unknown;
}

/** One HTTP request as the gateway sends it: JSON body with Content-Length, Host localhost. */
export function call(target: Target, method: string, path: string, body?: unknown, agent = false): Promise<Reply> {
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method,
        path,
        host: 'localhost',
        ...('socket' in target ? { socketPath: target.socket } : { port: target.port, host: '127.0.0.1' }),
        headers:
          text === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) },
        ...(agent ? {} : { agent: false }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const out = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: out,
            json: () => JSON.parse(out) as unknown,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (text !== undefined) req.write(text);
    req.end();
  });
}

/** A fresh private folder. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'mcp-serve-'));
}

/** A bundle for a policy given as JSON text. */
export async function bundleOf(policyText: string, extras: CompileExtras = {}): Promise<Uint8Array> {
  return (await compilePolicy(loadPolicyText(policyText).policy, extras)).bundle;
}

/** How long `serve` may take to say it listens before the test gives up on it. */
const START_DEADLINE_MS = 30_000;

/** A running `mcp-policy serve` process. */
export interface ServeProcess {
  readonly child: ChildProcess;
  stderr(): string;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  /** The TCP port it reported listening on (first one), when it listens on TCP. */
  readonly port: number | undefined;
}

/**
 * `mcp-policy serve …` as a child process; resolves once it prints that it
 * listens. Rejects at once, with its stderr, when the process exits or cannot
 * be started first, and kills it if it has not started within a deadline.
 */
export async function spawnServe(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<ServeProcess> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'mcp-policy.js'), 'serve', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not start within ${START_DEADLINE_MS} ms: ${err}`));
    }, START_DEADLINE_MS);
    const done = (error?: Error) => {
      clearTimeout(deadline);
      if (error) reject(error);
      else resolve();
    };
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      if (/listening on|workers serving/.test(err)) done();
    });
    child.once('error', (e) => done(new Error(`serve could not be started: ${e.message}`)));
    void exited.then((code) => done(new Error(`serve exited ${code}: ${err}`)));
  });
  const port = /(?:listening|serving) on http:\/\/[^\s]*:(\d+)/.exec(err)?.[1];
  return { child, stderr: () => err, exited, port: port === undefined ? undefined : Number(port) };
}
