/**
 * The CLI's view of libckpt (src/engine/libckpt.ts, the koffi binding): the few
 * calls the commands make, with options in the CLI's terms. The binding is
 * loaded on first use, so `ckpt --help` and the bus verbs never load koffi or
 * libckpt.so; if it cannot be loaded the command says so in one line.
 */
import { type EngineChoice, isEngineChoice } from '../shared/engine-choice.js';
import { CliError, EXIT, UsageError } from './errors.js';
import type { OptionSpec, ParsedArgs } from './options.js';
import { last } from './options.js';
import type { ProgressSnapshot } from './progress.js';

export type AfterKind = 'cont' | 'stop' | 'term' | 'kill' | 'signal' | 'abort';
export type ScopeKind = 'pid' | 'tree' | 'pgid' | 'sid';

export interface LocalCheckpointOptions {
  after: AfterKind;
  signal?: number;
  scope: ScopeKind;
  fd?: number;
  timeoutMs?: number;
  backup?: boolean; // keep the old image as FILE.~N~
  noclobber?: boolean;
  noatomic?: boolean;
  nosync?: boolean;
  tcpEstablished?: boolean; // CKPT_CP_TCP_ESTABLISHED
  engine?: EngineChoice; // default auto
  onProgress?: (read: () => ProgressSnapshot) => () => void;
}

export interface CheckpointSummary {
  pid: number;
  bytes: number;
  pages?: number;
  durationMs: number;
  frozenMs: number;
  threads?: number;
  processes?: number;
  vmas?: number;
  crc32c?: number;
  engine?: 'user' | 'kernel'; // the one that froze the process
}

/** --engine on checkpoint and restart verbs (ckpt, cr_checkpoint, cr_restart). */
export const ENGINE_OPTION_SPEC: OptionSpec = {
  long: 'engine',
  arg: 'required',
  argName: 'ENGINE',
};

export const ENGINE_HELP = `      --engine ENGINE    kernel (kmod/ckpt.ko through /dev/ckpt: no ptrace, a process
                         under gdb or strace can be checkpointed), user (ptrace), or
                         auto (default: kernel when /dev/ckpt is present, else user);
                         the image is the same, either engine's restarts with the other`;

/** The --engine value, checked; undefined when not given. */
export function engineFromOptions(parsed: ParsedArgs): EngineChoice | undefined {
  const v = last(parsed, 'engine');
  if (v === undefined) return undefined;
  if (!isEngineChoice(v)) {
    throw new UsageError(`--engine must be kernel, user or auto, got '${v}'`);
  }
  return v;
}

export interface LocalRestartOptions {
  restorePid: boolean;
  restorePgid: boolean;
  restoreSid: boolean;
  after: AfterKind;
  signal?: number;
  fd?: number;
  relocate: string[];
  /** kernel: ckpt.ko restores the PIDs and exe link a user lacks the capability for */
  engine?: EngineChoice;
  onProgress?: (read: () => ProgressSnapshot) => () => void;
}

export interface RestartSummary {
  pid: number;
  waiterPid: number;
  /** What the waiter waits for: [pid], or each top-level process of a group or session. */
  roots?: number[];
  threads?: number;
  bytes?: number;
  durationMs?: number;
}

export interface LocalEngine {
  checkpoint(pid: number, path: string, opts: LocalCheckpointOptions): Promise<CheckpointSummary>;
  restart(path: string, opts: LocalRestartOptions): Promise<RestartSummary>;
  /** Exit code of a child (0..255, 128+N if killed by signal N). */
  wait(pid: number): Promise<number>;
  inspect(path: string, verify: boolean): Promise<Record<string, unknown>>;
  probe(): Promise<Record<string, unknown>>;
}

/**
 * An engine failure, with the errno name when the library gave one (EPERM, EEXIST...).
 * ENOTSUP (what libckpt does not support yet, e.g. a scope) exits 3 like every
 * other "not supported" (docs/cli.md); the rest exit 1.
 */
export class EngineError extends CliError {
  override name = 'EngineError';
  readonly errno?: string;
  constructor(message: string, errno: string | undefined, options?: { cause?: unknown }) {
    super(
      message,
      errno === 'ENOTSUP' || errno === 'EOPNOTSUPP' ? EXIT.unavailable : EXIT.failure,
      options,
    );
    if (errno) this.errno = errno;
  }
}

let loaded: Promise<LocalEngine> | undefined;

/** The binding adapted to LocalEngine (engine-binding.ts), loaded once. */
export function loadEngine(): Promise<LocalEngine> {
  loaded ??= (async () => {
    try {
      const { createLocalEngine } = await import('./engine-binding.js');
      return await createLocalEngine();
    } catch (err) {
      loaded = undefined;
      if (err instanceof CliError) throw err;
      const code = (err as { code?: string }).code;
      const why =
        code === 'ERR_MODULE_NOT_FOUND'
          ? 'the libckpt binding (src/engine/libckpt.ts) is not in this build'
          : (err as Error).message;
      throw new CliError(`libckpt is not available: ${why}`, EXIT.unavailable, { cause: err });
    }
  })();
  return loaded;
}
