/**
 * OPA servers on loopback for the fleet test and the fleet benchmark: real
 * `opa run --server` processes (the pinned opa) started on an OPA
 * configuration, asked for decisions over their REST API and for the revision
 * of the bundle they have activated.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveOpa } from '../src/opa/cli.js';

/** A free loopback port (the kernel's pick, released for opa to take). */
export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    });
  });
}

/** One running `opa run --server`. */
export class OpaServer {
  /** Everything opa logged (errors only), e.g. "Bundle load failed" lines. */
  log = '';

  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
  ) {
    child.stderr?.on('data', (d: Buffer) => (this.log += d.toString('utf8')));
    child.stdout?.on('data', (d: Buffer) => (this.log += d.toString('utf8')));
  }

  /** Starts opa with the configuration text (written beside `workDir`), on a free loopback port, loading `paths`. */
  static async start(
    configText: string,
    workDir: string,
    index = 0,
    paths: readonly string[] = [],
  ): Promise<OpaServer> {
    const opa = await resolveOpa();
    const configFile = join(workDir, `opa-${index}.yaml`);
    await writeFile(configFile, configText);
    const port = await freePort();
    const child = spawn(
      opa,
      [
        'run',
        '--server',
        '--addr',
        `127.0.0.1:${port}`,
        '--config-file',
        configFile,
        '--log-level',
        'error',
        '--log-format',
        'json',
        ...paths,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return new OpaServer(`http://127.0.0.1:${port}`, child);
  }

  /** The revision of the named bundle opa has activated, or undefined (none yet, or not reachable). */
  async revision(bundle: string): Promise<string | undefined> {
    try {
      const res = await fetch(`${this.url}/v1/data/system/bundles/${bundle}/manifest/revision`);
      const body = (await res.json()) as { result?: unknown };
      return typeof body.result === 'string' ? body.result : undefined;
    } catch {
      return undefined;
    }
  }

  /** Waits until opa has activated `revision` of `bundle`; resolves with the time it took, throws past `timeoutMs`. */
  async waitForRevision(bundle: string, revision: string, timeoutMs = 20_000): Promise<number> {
    const start = performance.now();
    while (performance.now() - start < timeoutMs) {
      if ((await this.revision(bundle)) === revision) return performance.now() - start;
      if (this.child.exitCode !== null) throw new Error(`opa exited with ${this.child.exitCode}: ${this.log}`);
      await sleep(25);
    }
    throw new Error(
      `opa at ${this.url} did not activate revision ${revision} of ${bundle} within ${timeoutMs} ms; log: ${this.log}`,
    );
  }

  /** opa's answer at `POST /v1/data/<path>` for `input` (undefined when the rule is undefined). */
  async query(path: string, input: unknown): Promise<unknown> {
    const res = await fetch(`${this.url}/v1/data/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input }),
    });
    if (!res.ok) throw new Error(`opa answered ${res.status}: ${await res.text()}`);
    return ((await res.json()) as { result?: unknown }).result;
  }

  /** Stops opa and waits for it to exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((ok) => this.child.once('exit', ok));
    this.child.kill('SIGTERM');
    await Promise.race([exited, sleep(5000).then(() => this.child.kill('SIGKILL'))]);
    await exited;
  }
}
