/**
 * Run a CheckpointPlan straight through libckpt (no daemon): shared by
 * `ckpt checkpoint` and `cr_checkpoint`. Checks what can be checked before the
 * target is touched (process, permissions, destination), refuses options the
 * engine does not implement yet with a clear message, keeps --backup=NAME with a
 * hard link so a failed checkpoint loses nothing.
 */
import {
  accessSync,
  constants,
  fstatSync,
  linkSync,
  renameSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { CheckpointPlan } from './blcr/checkpoint-options.js';
import { contextFileName } from './blcr/checkpoint-options.js';
import type { CheckpointSummary, LocalCheckpointOptions, ScopeKind } from './engine.js';
import { loadEngine } from './engine.js';
import { CliError, EXIT } from './errors.js';
import { checkTarget, childrenOf, processCwd } from './proc.js';
import { startProgress } from './progress.js';

export interface CheckpointDone {
  path: string; // where the image is (or `fd:N`)
  scope: ScopeKind;
  summary: CheckpointSummary;
  backup?: string; // where the previous image was kept (--backup=NAME)
}

function notSupported(what: string, why: string): CliError {
  return new CliError(`${what} is not supported yet: ${why}`, EXIT.unavailable);
}

/** Refuse what the engine cannot honour, before anything happens. */
export function refuseUnsupported(plan: CheckpointPlan): void {
  const saves = plan.save.filter((s) => s !== 'none');
  if (saves.length) {
    throw notSupported(
      `--save-${saves[0]}`,
      'the engine chooses which memory to save by itself; only the default --save-none is accepted',
    );
  }
  if (plan.ptraced === 'skip' || (plan.ptraced === 'allow' && plan.engine !== 'kernel')) {
    throw notSupported(
      `--ptraced-${plan.ptraced}`,
      plan.ptraced === 'allow'
        ? 'the user engine freezes targets with ptrace, so a traced process cannot be included; --engine kernel can (--ptraced-allow --engine kernel)'
        : 'traced processes cannot be left out of a checkpoint',
    );
  }
  if (plan.ptracer !== 'error') {
    throw notSupported(
      `--ptracer-${plan.ptracer}`,
      'processes that trace others cannot be skipped yet',
    );
  }
}

/** The image path a plan writes, relative names resolved against our cwd. */
export function destinationPath(plan: CheckpointPlan): string {
  switch (plan.destination.kind) {
    case 'file':
      return resolve(plan.destination.path);
    case 'cwd':
      return join(processCwd(plan.id), contextFileName(plan.id));
    case 'default':
      return resolve(contextFileName(plan.id));
    case 'fd':
      return `fd:${plan.destination.fd}`;
  }
}

function checkDestination(path: string, plan: CheckpointPlan): void {
  if (plan.destination.kind === 'fd') {
    const fd = plan.destination.fd;
    try {
      fstatSync(fd);
    } catch {
      throw new CliError(`descriptor ${fd} is not open (-F ${fd})`);
    }
    return;
  }
  const dir = dirname(path);
  let st: ReturnType<typeof statSync> | undefined;
  try {
    st = statSync(path);
  } catch {
    st = undefined;
  }
  if (st?.isDirectory()) throw new CliError(`${path} is a directory; give a file name with -f`);
  if (st && plan.replace === 'noclobber') throw new CliError(`${path} exists (--noclobber)`);
  try {
    if (!statSync(dir).isDirectory()) throw new CliError(`${dir} is not a directory`);
    accessSync(dir, constants.W_OK);
  } catch (err) {
    if (err instanceof CliError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new CliError(`cannot write ${path}: directory ${dir} does not exist`);
    throw new CliError(`cannot write ${path}: directory ${dir} is not writable (${code})`);
  }
}

/** BLCR's default scope is the tree; a process without children is the same as -p. */
function effectiveScope(plan: CheckpointPlan): ScopeKind {
  if (plan.scope === 'tree' && childrenOf(plan.id).length === 0) return 'pid';
  return plan.scope;
}

export async function checkpointLocally(
  plan: CheckpointPlan,
  label = 'checkpoint',
): Promise<CheckpointDone> {
  refuseUnsupported(plan);
  if (plan.scope === 'pid' || plan.scope === 'tree') checkTarget(plan.id);
  const path = destinationPath(plan);
  checkDestination(path, plan);
  const scope = effectiveScope(plan);
  const engine = await loadEngine();

  const opts: LocalCheckpointOptions = {
    after: plan.after.kind === 'run' ? 'cont' : plan.after.kind,
    scope,
    backup: plan.replace === 'backup' && plan.backupName === undefined,
    noclobber: plan.replace === 'noclobber',
    noatomic: plan.replace === 'clobber',
    nosync: !plan.sync,
    tcpEstablished: plan.tcpEstablished === true,
    engine: plan.engine ?? 'auto',
    onProgress: (read) => startProgress({ label: `${label} ${plan.id}`, read }),
  };
  if (plan.after.kind === 'signal') opts.signal = plan.after.signal;
  if (plan.destination.kind === 'fd') opts.fd = plan.destination.fd;
  if (plan.timeoutSec) opts.timeoutMs = Math.round(plan.timeoutSec * 1000);

  // --backup=NAME: keep the old image under NAME through a hard link taken first,
  // renamed into place only once the new image is durable.
  let pendingBackup: { tmp: string; name: string } | undefined;
  if (plan.backupName !== undefined && plan.destination.kind !== 'fd') {
    pendingBackup = linkOldImage(path, resolve(dirname(path), plan.backupName));
  }
  let summary: CheckpointSummary;
  try {
    summary = await engine.checkpoint(plan.id, path, opts);
  } catch (err) {
    if (pendingBackup) safeUnlink(pendingBackup.tmp);
    throw err;
  }
  const done: CheckpointDone = { path, scope, summary };
  if (pendingBackup) {
    renameSync(pendingBackup.tmp, pendingBackup.name);
    done.backup = pendingBackup.name;
  }
  return done;
}

function linkOldImage(path: string, name: string): { tmp: string; name: string } | undefined {
  try {
    statSync(path);
  } catch {
    return undefined; // nothing to keep
  }
  const tmp = join(dirname(name), `.${basename(name)}.${process.pid}.tmp`);
  safeUnlink(tmp);
  try {
    linkSync(path, tmp);
  } catch (err) {
    throw new CliError(
      `cannot keep the old image as ${name}: ${(err as NodeJS.ErrnoException).code} (NAME must be on the same file system as FILE)`,
      EXIT.failure,
      { cause: err },
    );
  }
  return { tmp, name };
}

function safeUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
