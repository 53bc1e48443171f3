/**
 * LocalEngine on top of src/engine/libckpt.ts (the koffi binding). The binding
 * mirrors the C API (native/include/ckpt.h): option objects carry the C
 * struct's fields in camelCase, flags as CKPT_* bit values, enums as numbers.
 * The module is imported on first use (it loads koffi and libckpt.so), so
 * commands that do not need the engine never pay for it.
 */

import { type EngineChoice, engineName } from '../shared/engine-choice.js';
import type {
  AfterKind,
  CheckpointSummary,
  LocalCheckpointOptions,
  LocalEngine,
  LocalRestartOptions,
  RestartSummary,
  ScopeKind,
} from './engine.js';
import { EngineError } from './engine.js';
import type { ProgressSnapshot } from './progress.js';

// native/include/ckpt.h
const AFTER: Record<AfterKind, number> = {
  cont: 0,
  stop: 1,
  term: 2,
  kill: 3,
  signal: 4,
  abort: 5,
};
const SCOPE: Record<ScopeKind, number> = { pid: 0, tree: 1, pgid: 2, sid: 3 };
const BACKEND: Record<EngineChoice, number> = { auto: 0, user: 1, kernel: 2 };
const CP_NOSYNC = 1 << 0;
const CP_BACKUP = 1 << 1;
const CP_NOCLOBBER = 1 << 2;
const CP_NOATOMIC = 1 << 3;
const CP_TCP_ESTABLISHED = 1 << 4;
const RS_NO_RESTORE_PID = 1 << 0;
const RS_RESTORE_PGID = 1 << 1;
const RS_RESTORE_SID = 1 << 2;
const IN_VERIFY = 1 << 0;

interface ProgressHandle {
  read(): { bytesDone: number | bigint; bytesTotal: number | bigint; phase?: number };
  free?(): void;
}

/** What the CLI uses of src/engine/libckpt.ts. */
interface Binding {
  checkpoint(
    pid: number,
    path: string,
    opts: Record<string, unknown>,
  ): Promise<Record<string, unknown>>;
  restart(path: string, opts: Record<string, unknown>): Promise<Record<string, unknown>>;
  wait(pid: number): Promise<number> | number;
  inspect(path: string, opts: { verify: boolean; flags?: number }): Promise<unknown> | unknown;
  probe(): Promise<unknown> | unknown;
  createProgress?(): ProgressHandle;
}

const num = (v: unknown): number =>
  typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : Number.NaN;
const nsToMs = (v: unknown): number => num(v) / 1e6;

function errnoName(err: unknown): string | undefined {
  const code =
    (err as { code?: unknown; errno?: unknown }).code ?? (err as { errno?: unknown }).errno;
  return typeof code === 'string' ? code : undefined;
}

/** Engine failures keep libckpt's one-line message and errno name. */
async function call<T>(what: string, fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const msg = (err as Error).message?.split('\n')[0] ?? String(err);
    throw new EngineError(msg.startsWith(what) ? msg : `${what}: ${msg}`, errnoName(err), {
      cause: err,
    });
  }
}

function withProgress<T>(
  b: Binding,
  onProgress: ((read: () => ProgressSnapshot) => () => void) | undefined,
  fn: (progress: ProgressHandle | undefined) => Promise<T>,
): Promise<T> {
  const handle = onProgress && b.createProgress ? b.createProgress() : undefined;
  const stop =
    handle && onProgress
      ? onProgress(() => {
          const p = handle.read();
          return {
            bytesDone: num(p.bytesDone),
            bytesTotal: num(p.bytesTotal),
            phase: p.phase ?? 0,
          };
        })
      : undefined;
  return fn(handle).finally(() => {
    stop?.();
    handle?.free?.();
  });
}

function adapt(b: Binding): LocalEngine {
  return {
    checkpoint(pid, path, o: LocalCheckpointOptions) {
      let flags = 0;
      if (o.nosync) flags |= CP_NOSYNC;
      if (o.backup) flags |= CP_BACKUP;
      if (o.noclobber) flags |= CP_NOCLOBBER;
      if (o.noatomic) flags |= CP_NOATOMIC;
      if (o.tcpEstablished) flags |= CP_TCP_ESTABLISHED;
      return withProgress(b, o.onProgress, async (progress) => {
        const opts: Record<string, unknown> = {
          flags,
          after: AFTER[o.after],
          signal: o.signal ?? 0,
          scope: SCOPE[o.scope],
          fd: o.fd ?? -1,
          timeoutMs: o.timeoutMs ?? 0,
          backend: BACKEND[o.engine ?? 'auto'],
        };
        if (progress) opts.progress = progress;
        const r = await call(`checkpoint ${pid}`, () => b.checkpoint(pid, path, opts));
        const summary: CheckpointSummary = {
          pid: num(r.pid ?? pid),
          bytes: num(r.bytes),
          durationMs: r.wallNs !== undefined ? nsToMs(r.wallNs) : num(r.durationMs),
          frozenMs: r.frozenNs !== undefined ? nsToMs(r.frozenNs) : num(r.frozenMs),
        };
        for (const k of ['pages', 'threads', 'processes', 'vmas', 'crc32c'] as const) {
          if (r[k] !== undefined) summary[k] = num(r[k]);
        }
        const engine = engineName(r.backend === undefined ? undefined : num(r.backend));
        if (engine) summary.engine = engine;
        return summary;
      });
    },
    restart(path, o: LocalRestartOptions) {
      let flags = 0;
      if (!o.restorePid) flags |= RS_NO_RESTORE_PID;
      if (o.restorePgid) flags |= RS_RESTORE_PGID;
      if (o.restoreSid) flags |= RS_RESTORE_SID;
      return withProgress(b, o.onProgress, async (progress) => {
        const opts: Record<string, unknown> = {
          flags,
          after: AFTER[o.after],
          signal: o.signal ?? 0,
          fd: o.fd ?? -1,
          stdinFd: -1,
          stdoutFd: -1,
          stderrFd: -1,
          relocate: o.relocate,
          backend: BACKEND[o.engine ?? 'auto'],
        };
        if (progress) opts.progress = progress;
        const r = await call(`restart ${path}`, () => b.restart(path, opts));
        const summary: RestartSummary = { pid: num(r.pid), waiterPid: num(r.waiterPid) };
        if (Array.isArray(r.roots)) summary.roots = r.roots.map(num);
        if (r.threads !== undefined) summary.threads = num(r.threads);
        if (r.bytes !== undefined) summary.bytes = num(r.bytes);
        if (r.wallNs !== undefined) summary.durationMs = nsToMs(r.wallNs);
        return summary;
      });
    },
    wait: (pid) => call(`wait ${pid}`, () => b.wait(pid)),
    async inspect(path, verify) {
      const info = await call(`inspect ${path}`, () =>
        b.inspect(path, { verify, flags: verify ? IN_VERIFY : 0 }),
      );
      return (typeof info === 'string' ? JSON.parse(info) : info) as Record<string, unknown>;
    },
    async probe() {
      const info = await call('probe', () => b.probe());
      return (typeof info === 'string' ? JSON.parse(info) : info) as Record<string, unknown>;
    },
  };
}

export async function createLocalEngine(): Promise<LocalEngine> {
  const b = await import('../engine/libckpt.js');
  return adapt(b as unknown as Binding);
}
