/** How a command ends the CLI with a given exit code without printing a stack trace. */
export class ExitError extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}
