/**
 * Errors of the engine layer. `code` is what the daemon turns into a command
 * reply or a result event: UNKNOWN_JOB, JOB_EXISTS, BUSY, FORBIDDEN, NO_IMAGE,
 * STATE, ENGINE (libckpt failed; `errno` then names why), TIMEOUT, CANCELLED.
 */
export class EngineError extends Error {
  override name = 'EngineError';
  readonly code: string;
  readonly errno?: string;

  constructor(code: string, message: string, options?: { cause?: unknown; errno?: string }) {
    super(message, options);
    this.code = code;
    if (options?.errno) this.errno = options.errno;
  }
}
