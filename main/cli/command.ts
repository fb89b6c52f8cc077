/** One pcctl command: a summary for the usage text and what it runs (exit code out). */
export interface Command {
  summary: string;
  run(args: string[]): Promise<number>;
}

/** A mistake in how a command was called: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
