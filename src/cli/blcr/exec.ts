/**
 * Replace this process with a program (execvp), as BLCR's cr_run does: the program
 * keeps cr_run's PID, so `cr_run prog & cr_checkpoint $!` checkpoints the program,
 * not a Node wrapper. Node has no exec, so libc's is called through koffi.
 *
 * Before exec: signals Node ignores (SIGPIPE) go back to their defaults and the
 * signal mask is cleared, because ignored dispositions and the mask survive exec.
 */

import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import koffi from 'koffi';
import { CliError } from '../errors.js';

const SIGPIPE = 13;
const SIG_SETMASK = 2;

interface Libc {
  execvp(file: string, argv: (string | null)[]): number;
  signal(sig: number, handler: null): unknown;
  sigprocmask(how: number, set: Buffer, old: null): number;
  errno(): number;
  strerror(errnum: number): string;
}

let libc: Libc | undefined;

function loadLibc(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  const errnoLocation = lib.func('int *__errno_location(void)');
  libc = {
    execvp: lib.func('int execvp(const char *file, const char **argv)'),
    signal: lib.func('void *signal(int sig, void *handler)'),
    sigprocmask: lib.func('int sigprocmask(int how, const void *set, void *old)'),
    errno: () => koffi.decode(errnoLocation(), 'int') as number,
    strerror: lib.func('const char *strerror(int errnum)'),
  };
  return libc;
}

/**
 * Exec `program` with `args`; returns only on failure, with an error naming the
 * program and why (exit 126 "cannot execute" or 127 "not found", like a shell).
 */
export function execProgram(program: string, args: readonly string[]): never {
  resolveProgram(program); // clear messages for the common failures, before exec
  const c = loadLibc();
  c.signal(SIGPIPE, null); // SIG_DFL
  c.sigprocmask(SIG_SETMASK, Buffer.alloc(128), null);
  c.execvp(program, [program, ...args, null]);
  // errno is read right after the failed call on this (the main) thread
  const errno = c.errno();
  const reason = c.strerror(errno);
  const notFound = errno === 2; // ENOENT
  throw new CliError(`cannot run '${program}': ${reason}`, notFound ? 127 : 126);
}

/** Find `program` as execvp would, or throw "not found" (127) / "not executable" (126). */
export function resolveProgram(
  program: string,
  pathEnv = process.env.PATH ?? '/usr/bin:/bin',
): string {
  const candidates = program.includes('/')
    ? [program]
    : pathEnv.split(delimiter).map((dir) => join(dir || '.', program));
  let sawNonExecutable = false;
  for (const candidate of candidates) {
    try {
      if (!statSync(candidate).isFile()) {
        sawNonExecutable = true;
        continue;
      }
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EACCES') sawNonExecutable = true;
    }
  }
  if (sawNonExecutable)
    throw new CliError(`cannot run '${program}': permission denied or not a file`, 126);
  throw new CliError(
    `cannot run '${program}': not found${program.includes('/') ? '' : ' in PATH'}`,
    127,
  );
}
