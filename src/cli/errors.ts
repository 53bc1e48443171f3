/**
 * Errors of the CLI layer. main.ts prints `ckpt: <message>` (one line) and exits
 * with `exitCode`; the stack is shown only with CKPT_DEBUG=1.
 */

/** Documented exit codes (docs/cli.md). */
export const EXIT = {
  ok: 0,
  failure: 1, // the operation failed (engine, bus, file)
  usage: 2, // bad command line
  unavailable: 3, // a component is missing (libckpt, daemon verb, bus unreachable)
  timeout: 4,
  interrupted: 130,
} as const;

export class CliError extends Error {
  override name = 'CliError';
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT.failure, options?: { cause?: unknown }) {
    super(message, options);
    this.exitCode = exitCode;
  }
}

/** Bad command line: unknown option, missing or malformed argument. */
export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT.usage, options);
  }
}

/** One line describing any thrown value, without a stack. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const text = err.message.split('\n')[0] ?? '';
    return text.trim() || err.name;
  }
  return String(err);
}
