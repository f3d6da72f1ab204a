/**
 * Crash points for fault-injection tests. Writing output and building are
 * meant to survive a kill at any moment; these named points let a test kill
 * the process (SIGKILL, no cleanup) exactly there, when the environment
 * variable MCP_POLICY_CRASH_AT names the point. Unset, they do nothing.
 */

/** Kills the process without cleanup when MCP_POLICY_CRASH_AT is `point`. */
export function crashPoint(point: string): void {
  if (process.env.MCP_POLICY_CRASH_AT === point) process.kill(process.pid, 'SIGKILL');
}
