/**
 * The proxy's decision log: one JSON object per line for every decision it
 * enforced, appended to an owner-only file and flushed before the proxy exits.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { McpPolicyError } from '../core/errors.js';
import { type Decision, type PolicyRequest } from '../policy/model.js';

/** One enforced decision. `stage` says where in the MCP traffic it was asked. */
export interface ProxyLogEntry {
  readonly time: string;
  readonly stage: 'start' | 'session' | 'tools/list' | 'tools/call' | 'prompts/list' | 'prompts/get';
  readonly request: PolicyRequest;
  readonly decision: Decision;
  /** Set when the tool's pinned definition decided (a denial the policy alone would not make). */
  readonly pin?: string;
}

/** Where decisions go; the default sink drops them. */
export interface DecisionSink {
  write(entry: ProxyLogEntry): void;
  close(): Promise<void>;
}

export const NO_LOG: DecisionSink = { write: () => undefined, close: () => Promise.resolve() };

/** Opens (appending, mode 0600) a JSON Lines decision log. */
export async function openDecisionLog(path: string): Promise<DecisionSink> {
  const stream: WriteStream = createWriteStream(path, { flags: 'a', mode: 0o600 });
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (e: NodeJS.ErrnoException) =>
      reject(new McpPolicyError('write_failed', `cannot open decision log ${path}: ${e.code ?? e.message}`)),
    );
  });
  let failed: Error | undefined;
  stream.on('error', (e) => (failed = e));
  return {
    write: (entry) => {
      if (failed === undefined) stream.write(`${JSON.stringify(entry)}\n`);
    },
    close: () => new Promise<void>((resolve) => stream.end(() => resolve())),
  };
}
