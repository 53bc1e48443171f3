/** Errors of the libckpt binding: the library's message, errno name and number. */
import { constants } from 'node:os';

const NAMES = new Map<number, string>(
  Object.entries(constants.errno).map(([name, value]) => [value, name]),
);

export class LibckptError extends Error {
  override name = 'LibckptError';
  /** errno name, e.g. 'ESRCH' (what callers switch on). */
  readonly code: string;
  readonly errno: number;

  constructor(message: string, code: string, errno: number, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.errno = errno;
  }

  static nameOf(errno: number): string {
    return NAMES.get(errno) ?? `E${errno}`;
  }
}
