/**
 * `--workers N`: node:cluster workers, each a full service on the same
 * listeners (the primary owns the sockets and spreads connections). Every
 * worker loads the same bundle, so answers are the same whichever serves.
 */
import cluster, { type Address, type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { McpPolicyError } from '../core/errors.js';
import { prepareSocketPath } from './listen.js';

function describeAddress(address: Address): string {
  if (address.addressType === -1) return `unix:${address.address}`;
  const host = address.addressType === 6 ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

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
  answerMetricsRequests();
  let stopping = false;
  const workers = new Set<Worker>();
  let ready = 0;
  // Where the workers listen, as they report it: a port asked as 0 is known only here.
  const addresses = new Set<string>();
  await new Promise<void>((resolve, reject) => {
    const fork = () => {
      const worker = cluster.fork();
      workers.add(worker);
      worker.on('listening', (address: Address) => addresses.add(describeAddress(address)));
      worker.once('listening', () => {
        if (++ready === count) {
          notify(`${count} workers serving${addresses.size > 0 ? ` on ${[...addresses].join(' and ')}` : ''}`);
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

const METRICS_REQUEST = 'mcp-policy:metrics';
const METRICS_REPLY = 'mcp-policy:metrics-reply';

interface MetricsMessage {
  readonly type: string;
  readonly id: number;
  readonly text?: string;
  readonly error?: string;
}

/** In the primary: a worker asking for `/metrics` gets the sum over all workers (prom-client's aggregation). */
function answerMetricsRequests(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker: Worker, message: MetricsMessage) => {
    if (message?.type !== METRICS_REQUEST) return;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: METRICS_REPLY, id: message.id, text }),
      (e: Error) => worker.send({ type: METRICS_REPLY, id: message.id, error: e.message }),
    );
  });
}

/**
 * In a worker: shares `registry` with the primary's aggregation and returns
 * the function `/metrics` calls, which answers for the whole cluster.
 */
export function clusterMetrics(registry: Registry): () => Promise<string> {
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  let next = 0;
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (e: Error) => void }>();
  process.on('message', (message: MetricsMessage) => {
    if (message?.type !== METRICS_REPLY) return;
    const w = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.error !== undefined) w?.reject(new Error(message.error));
    else w?.resolve(message.text ?? '');
  });
  return () =>
    new Promise((resolve, reject) => {
      const id = next++;
      waiting.set(id, { resolve, reject });
      process.send?.({ type: METRICS_REQUEST, id });
    });
}
