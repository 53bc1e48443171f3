/**
 * The koffi binding to libckpt (native/include/ckpt.h). Structs mirror the C
 * ones field for field (test/native/abi.test.ts compares them with the C
 * compiler's layout); long calls run on koffi's worker threads (`.async`) so
 * the event loop never waits for a checkpoint. Errors become LibckptError with
 * the library's one-line message and the errno name.
 *
 * One rule the C library cannot enforce: do not checkpoint a child of this
 * Node process from this process. libuv reaps its children with waitpid(pid)
 * on SIGCHLD, and a tracer's thread group sees its tracees' ptrace stops there,
 * so libuv would take the stops the checkpoint waits for. checkpoint() refuses
 * such a target; use `ckpt checkpoint` (another process) or start the target
 * through a process that is not this one (e.g. `setsid -f`).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { LibckptError } from './libckpt-errors.js';

export { LibckptError } from './libckpt-errors.js';

// ---------------------------------------------------------------- constants (ckpt.h)

export const AFTER = { cont: 0, stop: 1, term: 2, kill: 3, signal: 4, abort: 5 } as const;
export const SCOPE = { pid: 0, tree: 1, pgid: 2, sid: 3 } as const;
export const BACKEND = { auto: 0, user: 1, kernel: 2 } as const;
export const CP_NOSYNC = 1 << 0;
export const CP_BACKUP = 1 << 1;
export const CP_NOCLOBBER = 1 << 2;
export const CP_NOATOMIC = 1 << 3;
export const CP_TCP_ESTABLISHED = 1 << 4;
/** Refuse (after the freeze) a process not holding exactly owner's ids. */
export const CP_OWNER = 1 << 5;
export const RS_NO_RESTORE_PID = 1 << 0;
export const RS_RESTORE_PGID = 1 << 1;
export const RS_RESTORE_SID = 1 << 2;
export const RS_NO_VERIFY = 1 << 3;
export const IN_VERIFY = 1 << 0;
export const PHASES = [
  'idle',
  'freeze',
  'state',
  'memory',
  'sync',
  'verify',
  'restore',
  'done',
] as const;
const MSG_MAX = 512;

// ---------------------------------------------------------------- the library

function libraryPath(): string {
  if (process.env.CKPT_LIBCKPT) return process.env.CKPT_LIBCKPT;
  // dist/src/engine/libckpt.js -> <repo>/native/build/libckpt.so
  const here = dirname(fileURLToPath(import.meta.url));
  return resolve(here, '..', '..', '..', 'native', 'build', 'libckpt.so');
}

export const LIBRARY_PATH = libraryPath();
const lib = (() => {
  try {
    return koffi.load(LIBRARY_PATH);
  } catch (err) {
    throw new LibckptError(
      `cannot load libckpt from ${LIBRARY_PATH} (build it: make -C native): ${(err as Error).message}`,
      'ENOENT',
      -2,
      { cause: err },
    );
  }
})();

export const Progress = koffi.struct('ckpt_progress', {
  bytes_done: 'uint64_t',
  bytes_total: 'uint64_t',
  phase: 'uint32_t',
  pad: 'uint32_t',
});

export const CheckpointOpts = koffi.struct('ckpt_checkpoint_opts', {
  size: 'uint32_t',
  flags: 'uint32_t',
  after: 'uint32_t',
  signal: 'int32_t',
  scope: 'uint32_t',
  fd: 'int32_t',
  timeout_ms: 'uint32_t',
  backend: 'uint32_t',
  progress: 'void *',
  owner_uid: 'uint32_t',
  owner_gid: 'uint32_t',
});

export const CheckpointResult = koffi.struct('ckpt_result', {
  size: 'uint32_t',
  pid: 'int32_t',
  bytes: 'uint64_t',
  pages: 'uint64_t',
  wall_ns: 'uint64_t',
  frozen_ns: 'uint64_t',
  threads: 'uint32_t',
  processes: 'uint32_t',
  vmas: 'uint32_t',
  crc32c: 'uint32_t',
  backend: 'uint32_t',
  pad: 'uint32_t',
});

export const RestartOpts = koffi.struct('ckpt_restart_opts', {
  size: 'uint32_t',
  flags: 'uint32_t',
  after: 'uint32_t',
  signal: 'int32_t',
  fd: 'int32_t',
  stdin_fd: 'int32_t',
  stdout_fd: 'int32_t',
  stderr_fd: 'int32_t',
  nr_relocate: 'uint32_t',
  pad: 'uint32_t',
  relocate: 'void *',
  progress: 'void *',
  backend: 'uint32_t',
  pad2: 'uint32_t',
});

/** CKPT_RESTART_ROOTS_MAX: the top-level processes a restart result lists. */
export const RESTART_ROOTS_MAX = 32;

export const RestartResult = koffi.struct('ckpt_restart_result', {
  size: 'uint32_t',
  pid: 'int32_t',
  waiter_pid: 'int32_t',
  threads: 'uint32_t',
  bytes: 'uint64_t',
  wall_ns: 'uint64_t',
  nr_roots: 'uint32_t',
  roots: koffi.array('int32_t', RESTART_ROOTS_MAX),
  pad: 'uint32_t',
});

type Fn = ((...args: unknown[]) => unknown) & {
  async: (...args: unknown[]) => void;
};

const fns = {
  checkpoint: lib.func(
    'int ckpt_checkpoint(int32_t pid, const char *path, const ckpt_checkpoint_opts *opts, _Inout_ ckpt_result *res, void *msg, size_t msglen)',
  ) as Fn,
  restart: lib.func(
    'int ckpt_restart(const char *path, const ckpt_restart_opts *opts, _Inout_ ckpt_restart_result *res, void *msg, size_t msglen)',
  ) as Fn,
  inspect: lib.func(
    'int ckpt_inspect(const char *path, uint32_t flags, void *json, size_t jsonlen, _Out_ size_t *needed, void *msg, size_t msglen)',
  ) as Fn,
  probe: lib.func('int ckpt_probe(void *json, size_t jsonlen, void *msg, size_t msglen)') as Fn,
  version: lib.func('const char *ckpt_version(void)') as Fn,
};

function callAsync(fn: Fn, args: unknown[]): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    fn.async(...args, (err: Error | null, rc: number) => (err ? reject(err) : resolvePromise(rc)));
  });
}

function message(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.toString('utf8', 0, end < 0 ? buf.length : end);
}

function fail(rc: number, msg: Buffer, what: string): never {
  const text = message(msg) || `${what} failed`;
  throw new LibckptError(text, LibckptError.nameOf(-rc), -rc);
}

const num = (v: unknown): number => (typeof v === 'bigint' ? Number(v) : Number(v));

// ---------------------------------------------------------------- progress

export interface ProgressSnapshot {
  bytesDone: number;
  bytesTotal: number;
  phase: number;
  phaseName: (typeof PHASES)[number];
}

export interface ProgressHandle {
  /** Pass as opts.progress; poll read() while the call runs. */
  readonly pointer: unknown;
  read(): ProgressSnapshot;
  free(): void;
}

/** A ckpt_progress in C memory that the library updates from its worker thread. */
export function createProgress(): ProgressHandle {
  let ptr: unknown = koffi.alloc(Progress, 1);
  koffi.encode(ptr, Progress, { bytes_done: 0, bytes_total: 0, phase: 0, pad: 0 });
  return {
    get pointer() {
      return ptr;
    },
    read() {
      if (!ptr) return { bytesDone: 0, bytesTotal: 0, phase: 0, phaseName: 'idle' };
      const p = koffi.decode(ptr, Progress) as Record<string, unknown>;
      const phase = num(p.phase);
      return {
        bytesDone: num(p.bytes_done),
        bytesTotal: num(p.bytes_total),
        phase,
        phaseName: PHASES[phase] ?? 'idle',
      };
    },
    free() {
      if (ptr) koffi.free(ptr);
      ptr = null;
    },
  };
}

function progressPointer(p: unknown): unknown {
  if (p === undefined || p === null) return null;
  if (typeof p === 'object' && 'pointer' in (p as object)) return (p as ProgressHandle).pointer;
  return p;
}

// ---------------------------------------------------------------- checkpoint

export interface CheckpointOptions {
  flags?: number;
  after?: number;
  signal?: number;
  scope?: number;
  fd?: number;
  timeoutMs?: number;
  backend?: number;
  progress?: ProgressHandle | null;
  /** With flags CP_OWNER: every process must hold exactly these ids. */
  owner?: { uid: number; gid: number };
}

export interface CheckpointResultJs {
  pid: number;
  bytes: number;
  pages: number;
  wallNs: number;
  frozenNs: number;
  threads: number;
  processes: number;
  vmas: number;
  crc32c: number;
  /** The engine that froze the process: BACKEND.user or BACKEND.kernel. */
  backend: number;
}

/** PPid of pid from /proc, or -1. */
function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

export async function checkpoint(
  pid: number,
  path: string,
  opts: CheckpointOptions = {},
): Promise<CheckpointResultJs> {
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new LibckptError(`pid ${pid}: expected a positive process id`, 'EINVAL', 22);
  }
  if (parentOf(pid) === process.pid) {
    throw new LibckptError(
      `pid ${pid} is a child of this process (${process.pid}): checkpoint it from another process (ckpt checkpoint), see src/engine/libckpt.ts`,
      'EINVAL',
      22,
    );
  }
  const o = {
    size: koffi.sizeof(CheckpointOpts),
    flags: opts.flags ?? 0,
    after: opts.after ?? AFTER.cont,
    signal: opts.signal ?? 0,
    scope: opts.scope ?? SCOPE.pid,
    fd: opts.fd ?? -1,
    timeout_ms: opts.timeoutMs ?? 0,
    backend: opts.backend ?? BACKEND.auto,
    progress: progressPointer(opts.progress),
    owner_uid: opts.owner?.uid ?? 0,
    owner_gid: opts.owner?.gid ?? 0,
  };
  const res: Record<string, unknown> = { size: koffi.sizeof(CheckpointResult) };
  const msg = Buffer.alloc(MSG_MAX);
  const rc = await callAsync(fns.checkpoint, [pid, path, o, res, msg, MSG_MAX]);
  if (rc < 0) fail(rc, msg, `checkpoint ${pid}`);
  return {
    pid: num(res.pid),
    bytes: num(res.bytes),
    pages: num(res.pages),
    wallNs: num(res.wall_ns),
    frozenNs: num(res.frozen_ns),
    threads: num(res.threads),
    processes: num(res.processes),
    vmas: num(res.vmas),
    crc32c: num(res.crc32c) >>> 0,
    backend: num(res.backend),
  };
}

// ---------------------------------------------------------------- restart

export interface RestartOptions {
  flags?: number;
  after?: number;
  signal?: number;
  fd?: number;
  stdinFd?: number;
  stdoutFd?: number;
  stderrFd?: number;
  relocate?: string[];
  progress?: ProgressHandle | null;
  /** BACKEND.*: kernel uses ckpt.ko's restore session for what needs privilege */
  backend?: number;
}

export interface RestartResultJs {
  pid: number;
  waiterPid: number;
  /**
   * What the waiter waits for, each its child: [pid], or every top-level process of a
   * group or session whose parents were outside it (the waiter exits when all ended,
   * with pid's status); at most RESTART_ROOTS_MAX listed.
   */
  roots: number[];
  threads: number;
  bytes: number;
  wallNs: number;
}

/** A C array of C strings that lives until free(). */
function cStrings(list: string[]): { ptr: unknown; free(): void } {
  if (!list.length) return { ptr: null, free() {} };
  const strs = list.map((s) => {
    const bytes = Buffer.from(`${s}\0`, 'utf8');
    const p = koffi.alloc('uint8_t', bytes.length);
    koffi.encode(p, koffi.array('uint8_t', bytes.length), [...bytes]);
    return p;
  });
  const arr = koffi.alloc('void *', list.length);
  strs.forEach((p, i) => {
    koffi.encode(arr, i * 8, 'void *', p);
  });
  return {
    ptr: arr,
    free() {
      for (const p of strs) koffi.free(p);
      koffi.free(arr);
    },
  };
}

export async function restart(path: string, opts: RestartOptions = {}): Promise<RestartResultJs> {
  const relocate = opts.relocate ?? [];
  if (relocate.length > 16) {
    throw new LibckptError(`${relocate.length} relocations: at most 16`, 'EINVAL', 22);
  }
  for (const r of relocate) {
    if (!/^[^=]+=.*$/.test(r)) {
      throw new LibckptError(`relocation "${r}": expected OLD=NEW`, 'EINVAL', 22);
    }
  }
  const strings = cStrings(relocate);
  try {
    const o = {
      size: koffi.sizeof(RestartOpts),
      flags: opts.flags ?? 0,
      after: opts.after ?? AFTER.cont,
      signal: opts.signal ?? 0,
      fd: opts.fd ?? -1,
      stdin_fd: opts.stdinFd ?? -1,
      stdout_fd: opts.stdoutFd ?? -1,
      stderr_fd: opts.stderrFd ?? -1,
      nr_relocate: relocate.length,
      pad: 0,
      relocate: strings.ptr,
      progress: progressPointer(opts.progress),
      backend: opts.backend ?? BACKEND.auto,
      pad2: 0,
    };
    const res: Record<string, unknown> = { size: koffi.sizeof(RestartResult) };
    const msg = Buffer.alloc(MSG_MAX);
    const rc = await callAsync(fns.restart, [path, o, res, msg, MSG_MAX]);
    if (rc < 0) fail(rc, msg, `restart ${path}`);
    return {
      pid: num(res.pid),
      waiterPid: num(res.waiter_pid),
      roots: Array.from((res.roots as ArrayLike<number> | undefined) ?? [], num).slice(
        0,
        Math.min(num(res.nr_roots), RESTART_ROOTS_MAX),
      ),
      threads: num(res.threads),
      bytes: num(res.bytes),
      wallNs: num(res.wall_ns),
    };
  } finally {
    strings.free();
  }
}

// ---------------------------------------------------------------- wait

/*
 * ckpt_wait blocks in waitpid, and koffi has as many async workers as cores
 * (2 here): a daemon waiting for two restarted jobs that way would have no
 * worker left for a checkpoint. So waiting is a poll with waitpid(WNOHANG),
 * a synchronous call that never blocks, shared by every pending wait.
 */
const libc = koffi.load('libc.so.6');
const waitpidNoHang = libc.func('int waitpid(int pid, _Out_ int *status, int options)') as Fn;
const errnoLocation = libc.func('int *__errno_location(void)') as Fn;
const WNOHANG = 1;
const WAIT_POLL_MS = 50;
const waiters = new Map<
  number,
  { resolve: (code: number) => void; reject: (err: Error) => void }[]
>();
let poller: NodeJS.Timeout | undefined;

function pollChildren(): void {
  for (const [pid, list] of waiters) {
    const status = [0];
    const r = waitpidNoHang(pid, status, WNOHANG) as number;
    if (r === 0) continue;
    waiters.delete(pid);
    if (r < 0) {
      const errno = koffi.decode(errnoLocation(), 'int') as number;
      const err = new LibckptError(
        `wait ${pid}: ${LibckptError.nameOf(errno)} (not a child of this process, or already reaped)`,
        LibckptError.nameOf(errno),
        errno,
      );
      for (const w of list) w.reject(err);
      continue;
    }
    const st = status[0] ?? 0;
    const sig = st & 0x7f;
    const code = sig ? 128 + sig : (st >> 8) & 0xff;
    for (const w of list) w.resolve(code);
  }
  if (!waiters.size && poller) {
    clearInterval(poller);
    poller = undefined;
  }
}

/** Exit code of a child (0..255, 128+N if killed by signal N), without blocking a worker. */
export function wait(pid: number): Promise<number> {
  if (!Number.isInteger(pid) || pid <= 0) {
    return Promise.reject(new LibckptError(`wait ${pid}: expected a child's pid`, 'EINVAL', 22));
  }
  return new Promise((resolvePromise, reject) => {
    const list = waiters.get(pid) ?? [];
    list.push({ resolve: resolvePromise, reject });
    waiters.set(pid, list);
    poller ??= setInterval(pollChildren, WAIT_POLL_MS);
    pollChildren();
  });
}

// ---------------------------------------------------------------- inspect, probe, version

async function jsonCall(
  what: string,
  call: (buf: Buffer, needed: number[], msg: Buffer) => Promise<number>,
): Promise<Record<string, unknown>> {
  let size = 64 * 1024;
  for (let attempt = 0; attempt < 4; attempt++) {
    const buf = Buffer.alloc(size);
    const needed = [0];
    const msg = Buffer.alloc(MSG_MAX);
    const rc = await call(buf, needed, msg);
    if (rc === -28 && needed[0] && needed[0] > size) {
      size = needed[0];
      continue;
    }
    if (rc < 0) fail(rc, msg, what);
    return JSON.parse(buf.toString('utf8', 0, rc)) as Record<string, unknown>;
  }
  throw new LibckptError(`${what}: the description kept growing`, 'ENOSPC', 28);
}

export function inspect(
  path: string,
  opts: { verify?: boolean; flags?: number } = {},
): Promise<Record<string, unknown>> {
  const flags = (opts.flags ?? 0) | (opts.verify ? IN_VERIFY : 0);
  return jsonCall(`inspect ${path}`, (buf, needed, msg) =>
    callAsync(fns.inspect, [path, flags, buf, buf.length, needed, msg, MSG_MAX]),
  );
}

export function probe(): Promise<Record<string, unknown>> {
  return jsonCall('probe', async (buf, needed, msg) => {
    const rc = fns.probe(buf, buf.length, msg, MSG_MAX) as number;
    if (rc === -28) needed[0] = buf.length * 4;
    return rc;
  });
}

export function version(): string {
  return fns.version() as string;
}
