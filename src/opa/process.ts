/**
 * Running a tool with a hard time limit. A timed-out child is killed with
 * its whole process group: a wrapper script that hangs in `sleep` would
 * otherwise keep the output pipes open and the caller waiting after the
 * script itself was killed.
 */
import { spawn } from 'node:child_process';

/** What a run produced. */
export interface ProcessResult {
  readonly stdout: string;
  readonly stderr: string;
  /** The exit code; null when the process was killed or never started. */
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  /** Why the process could not be started (missing binary, not executable). */
  readonly spawnError?: string;
}

/** Options for {@link runProcess}. */
export interface ProcessOptions {
  readonly cwd?: string;
  /** Standard input; none (end of file at once) when absent. */
  readonly input?: string;
  readonly timeoutMs: number;
}

// Children run in their own process groups, so a terminal's Ctrl-C no longer
// reaches them: while any runs, a termination signal kills their groups first
// and is then re-raised, unless the host handles that signal itself.
const live = new Set<number>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function killGroup(pid: number): void {
  try {
    process.kill(process.platform === 'win32' ? pid : -pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function onSignal(signal: NodeJS.Signals): void {
  for (const pid of live) killGroup(pid);
  live.clear();
  for (const s of SIGNALS) process.off(s, onSignal);
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function track(pid: number | undefined): void {
  if (pid === undefined || process.platform === 'win32') return;
  if (live.size === 0) for (const s of SIGNALS) process.on(s, onSignal);
  live.add(pid);
}

function untrack(pid: number | undefined): void {
  if (pid === undefined || !live.delete(pid) || live.size > 0) return;
  for (const s of SIGNALS) process.off(s, onSignal);
}

/** Runs `bin` with `args`; never rejects. */
export function runProcess(bin: string, args: readonly string[], options: ProcessOptions): Promise<ProcessResult> {
  return new Promise((resolveRun) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let settled = false;
    const finish = (exitCode: number | null, timedOut: boolean, spawnError?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      untrack(child.pid);
      resolveRun({
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        exitCode,
        timedOut,
        ...(spawnError !== undefined && { spawnError }),
      });
    };
    const child = spawn(bin, [...args], {
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      // Its own process group, so a timeout can kill what it started too.
      detached: process.platform !== 'win32',
    });
    track(child.pid);
    const timer = setTimeout(() => {
      if (child.pid !== undefined) killGroup(child.pid);
      child.stdout.destroy();
      child.stderr.destroy();
      finish(null, true);
    }, options.timeoutMs);
    child.stdout.on('data', (c: Buffer) => stdout.push(c));
    child.stderr.on('data', (c: Buffer) => stderr.push(c));
    child.on('error', (e: NodeJS.ErrnoException) => finish(null, false, `cannot run ${bin}: ${e.code ?? e.message}`));
    // 'close' waits for the pipes as well as the exit, so no output is lost.
    child.on('close', (code) => finish(code, false));
    child.stdin.on('error', () => {
      // The child may exit without reading its input (EPIPE); its exit status tells what happened.
    });
    child.stdin.end(options.input ?? '');
  });
}
