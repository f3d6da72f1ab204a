/**
 * `--workers N`: node:cluster workers, each a full service on the same
 * listeners (the primary owns the sockets and spreads connections). Every
 * worker loads the same bundle, so answers are the same whichever serves.
 */
import cluster, { type Worker } from 'node:cluster';
import { McpPolicyError } from '../errors.js';
import { prepareSocketPath } from './listen.js';

/** True in a process started by {@link runPrimary}. */
export function isWorker(): boolean {
  return cluster.isWorker;
}

/**
 * Forks `count` workers (each re-runs this command) and supervises them:
 * resolves after a SIGTERM or SIGINT once every worker has finished its
 * in-flight requests; rejects when a worker fails to start.
 */
export async function runPrimary(
  count: number,
  socket: string | undefined,
  notify: (line: string) => void,
): Promise<void> {
  if (socket !== undefined) await prepareSocketPath(socket);
  // Workers ask the primary to bind: the socket is created here, owner-only.
  process.umask(0o177);
  let stopping = false;
  const workers = new Set<Worker>();
  let ready = 0;
  await new Promise<void>((resolve, reject) => {
    const fork = () => {
      const worker = cluster.fork();
      workers.add(worker);
      worker.once('listening', () => {
        if (++ready === count) {
          notify(`${count} workers serving`);
        }
      });
      worker.once('exit', (code) => {
        workers.delete(worker);
        if (stopping) {
          if (workers.size === 0) resolve();
          return;
        }
        if (ready < count) {
          stopping = true;
          for (const w of workers) w.process.kill('SIGTERM');
          reject(new McpPolicyError('worker_failed', `a worker failed to start (exit ${code})`));
          return;
        }
        notify(`worker ${worker.process.pid} exited (${code}); starting another`);
        fork();
      });
    };
    for (let k = 0; k < count; k++) fork();
    const stop = () => {
      if (stopping) return;
      stopping = true;
      for (const w of workers) w.process.kill('SIGTERM');
      if (workers.size === 0) resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
