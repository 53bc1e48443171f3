/**
 * Replace this process with a program (execvp), as BLCR's cr_run does: the program
 * keeps cr_run's PID, so `cr_run prog & cr_checkpoint $!` checkpoints the program,
 * not a Node wrapper. Node has no exec, so libc's is called through koffi.
 *
 * Before exec: signals Node ignores (SIGPIPE, SIGXFSZ) go back to their defaults
 * and the signal mask is cleared, because ignored dispositions and the mask
 * survive exec. And Node marks every descriptor it inherited close-on-exec at
 * startup (stdio included), so those are made inheritable again: 0-2 always,
 * others unless they are Node's own (anon inodes such as epoll/eventfd, and pipes
 * whose both ends are ours). Limitation: an inherited pipe with both ends open
 * here (an old-style make jobserver) stays closed for the program.
 */

import { accessSync, constants, readdirSync, readlinkSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import koffi from 'koffi';
import { CliError } from '../errors.js';

const SIGPIPE = 13;
const SIGXFSZ = 25;
const F_SETFD = 2;
const SIG_SETMASK = 2;

interface Libc {
  execvp(file: string, argv: (string | null)[]): number;
  signal(sig: number, handler: null): unknown;
  sigprocmask(how: number, set: Buffer, old: null): number;
  fcntl(fd: number, cmd: number, arg: number): number;
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
    fcntl: lib.func('int fcntl(int fd, int cmd, int arg)'),
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
  c.signal(SIGXFSZ, null);
  for (const fd of inheritedDescriptors()) c.fcntl(fd, F_SETFD, 0);
  c.sigprocmask(SIG_SETMASK, Buffer.alloc(128), null);
  c.execvp(program, [program, ...args, null]);
  // errno is read right after the failed call on this (the main) thread
  const errno = c.errno();
  const reason = c.strerror(errno);
  const notFound = errno === 2; // ENOENT
  throw new CliError(`cannot run '${program}': ${reason}`, notFound ? 127 : 126);
}

/** Descriptors to pass on to the program (see the header). */
export function inheritedDescriptors(): number[] {
  const targets = new Map<number, string>();
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      targets.set(Number(name), readlinkSync(`/proc/self/fd/${name}`));
    } catch {
      // the descriptor readdir itself used, already closed
    }
  }
  const pipeCount = new Map<string, number>();
  for (const t of targets.values()) {
    if (t.startsWith('pipe:')) pipeCount.set(t, (pipeCount.get(t) ?? 0) + 1);
  }
  const out: number[] = [];
  for (const [fd, target] of targets) {
    if (fd <= 2) out.push(fd);
    else if (target.startsWith('anon_inode:')) continue;
    else if (target.startsWith('pipe:') && (pipeCount.get(target) ?? 0) > 1) continue;
    else out.push(fd);
  }
  return out.sort((a, b) => a - b);
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
