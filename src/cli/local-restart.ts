/**
 * Run a RestartPlan straight through libckpt, with BLCR cr_restart semantics:
 * the restorer (res.waiterPid, our child) waits for the restored process and we
 * wait for it, so this resolves to the restored process's exit status (of a group
 * or session restarted with several top-level processes: once all ended, the
 * leader's, else the first's). Signals sent to us while waiting are forwarded to
 * each of them, so a scheduler that kills the restarter kills the job. --run-on-* commands run through /bin/sh.
 */
import { spawnSync } from 'node:child_process';
import { fstatSync } from 'node:fs';
import { resolve } from 'node:path';
import type { FailureClass, RestartPlan } from './blcr/restart-options.js';
import type { LocalRestartOptions, RestartSummary } from './engine.js';
import { EngineError, loadEngine } from './engine.js';
import { CliError, UsageError } from './errors.js';
import { checkImageFile } from './image-file.js';
import { startProgress } from './progress.js';

const FORWARDED: NodeJS.Signals[] = [
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGQUIT',
  'SIGUSR1',
  'SIGUSR2',
];

const TEMPORARY = new Set(['EBUSY', 'EAGAIN', 'EEXIST', 'ENOMEM', 'EINTR', 'ETIMEDOUT']);
const ENVIRONMENT = new Set([
  'ENOENT',
  'EACCES',
  'EPERM',
  'ENOSYS',
  'EOPNOTSUPP',
  'ENODEV',
  'ENOEXEC',
  'EXDEV',
]);

/** BLCR's failure classes for --run-on-fail-*. */
export function classifyFailure(err: unknown): FailureClass {
  if (err instanceof UsageError) return 'args';
  const errno = err instanceof EngineError ? err.errno : undefined;
  if (errno && TEMPORARY.has(errno)) return 'temp';
  if (errno && ENVIRONMENT.has(errno)) return 'env';
  if (err instanceof CliError && !(err instanceof EngineError)) return 'env'; // file missing etc.
  return 'perm';
}

function runHook(cmd: string, env: Record<string, string>): void {
  const r = spawnSync('/bin/sh', ['-c', cmd], {
    stdio: 'inherit',
    env: { ...process.env, ...env },
  });
  if (r.error) process.stderr.write(`cr_restart: cannot run '${cmd}': ${r.error.message}\n`);
}

/** Run the matching --run-on-fail-* / --run-on-failure command, if any. */
export function runFailureHook(plan: RestartPlan | undefined, err: unknown, message: string): void {
  if (!plan) return;
  const cls = classifyFailure(err);
  const cmd = plan.runOnFail[cls] ?? plan.runOnFailure;
  if (cmd) runHook(cmd, { CR_RESTART_ERROR: message, CR_RESTART_FAILURE: cls });
}

export function sourcePath(plan: RestartPlan): string {
  if (plan.source.kind === 'fd') {
    try {
      fstatSync(plan.source.fd);
    } catch {
      throw new CliError(`descriptor ${plan.source.fd} is not open (-F ${plan.source.fd})`);
    }
    return `fd:${plan.source.fd}`;
  }
  const path = resolve(plan.source.path);
  checkImageFile(path);
  return path;
}

export interface RestartHooks {
  label?: string;
  /** Called once the process is restored, before waiting for it. */
  onRestored?(summary: RestartSummary): void;
}

export async function restartLocally(plan: RestartPlan, hooks: RestartHooks = {}): Promise<number> {
  const path = sourcePath(plan);
  const engine = await loadEngine();
  const opts: LocalRestartOptions = {
    restorePid: plan.restorePid,
    restorePgid: plan.restorePgid,
    restoreSid: plan.restoreSid,
    after: plan.after.kind === 'run' ? 'cont' : plan.after.kind,
    relocate: plan.relocate,
    onProgress: (read) => startProgress({ label: hooks.label ?? 'restart', read }),
  };
  if (plan.after.kind === 'signal') opts.signal = plan.after.signal;
  if (plan.source.kind === 'fd') opts.fd = plan.source.fd;
  if (plan.engine) opts.engine = plan.engine;

  const summary = await engine.restart(path, opts);
  // every process the waiter waits for (a pipeline's commands each get it, as
  // from a terminal's process group)
  const targets = summary.roots?.length ? summary.roots : [summary.pid];
  const forward = (signal: NodeJS.Signals) => {
    for (const pid of targets) {
      try {
        process.kill(pid, signal);
      } catch {
        // it already exited; the wait below returns
      }
    }
  };
  for (const s of FORWARDED) process.on(s, forward);
  try {
    hooks.onRestored?.(summary);
    if (plan.runOnSuccess) runHook(plan.runOnSuccess, { CR_RESTART_PID: String(summary.pid) });
    return await engine.wait(summary.waiterPid);
  } finally {
    for (const s of FORWARDED) process.off(s, forward);
  }
}
