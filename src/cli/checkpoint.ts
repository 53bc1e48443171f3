/**
 * `ckpt checkpoint`: checkpoint a process locally through libckpt, or ask a
 * node's daemon to checkpoint one of its jobs over the bus (--bus/--node).
 */
import {
  AFTER_OPTION_SPECS,
  type AfterAction,
  afterFromOptions,
  describeAfter,
} from './blcr/after.js';
import type { CheckpointPlan, Scope } from './blcr/checkpoint-options.js';
import { withBus } from './bus-client.js';
import { ENGINE_HELP, ENGINE_OPTION_SPEC, engineFromOptions } from './engine.js';
import { UsageError } from './errors.js';
import { checkpointLocally } from './local-checkpoint.js';
import { LOCAL_DAEMON_HELP, LOCAL_DAEMON_SPECS, localDaemon } from './local-daemon.js';
import type { OptionSpec } from './options.js';
import { has, last, parseInteger, parseNumber, parseOptions } from './options.js';
import { formatBytes } from './progress.js';
import { busAfter, printResult } from './remote.js';
import type { Verb } from './verb.js';

const SPECS: readonly OptionSpec[] = [
  { long: 'file', short: 'f', arg: 'required', argName: 'FILE' },
  { long: 'scope', arg: 'required', argName: 'SCOPE' },
  ...AFTER_OPTION_SPECS,
  { long: 'backup' },
  { long: 'noclobber' },
  { long: 'nosync' },
  { long: 'tcp-established' },
  { long: 'timeout', short: 't', arg: 'required', argName: 'SEC' },
  ENGINE_OPTION_SPEC,
  { long: 'json' },
  { long: 'job', arg: 'required', argName: 'JOB' },
  { long: 'preempt' },
  ...LOCAL_DAEMON_SPECS,
];

const HELP = `Usage: ckpt checkpoint [options] PID
       ckpt checkpoint --job JOB [--node NODE] [--bus URL] [options]

Save a running process to a context file. Given a PID it runs here, straight
through libckpt; given --job the daemon on NODE (default: the local daemon)
checkpoints its job JOB into its image directory and records the image.

Options:
  -f, --file FILE        where to write (default: context.PID in the current directory;
                         local only: a daemon writes into its image directory)
      --scope SCOPE      pid (one process), tree (it and its descendants, default),
                         pgid (PID is a process group) or sid (a session); what
                         the processes share comes back shared (refused, exit 3:
                         a TCP/UDP socket two of them hold)
      --cont, --run      leave the process running (default)
      --stop             leave it stopped (SIGSTOP) once saved
      --term             send SIGTERM once saved
      --kill             send SIGKILL once saved (checkpoint and kill)
      --abort            send SIGABRT once saved
  -S, --signal NUM       send signal NUM once saved
      --backup           keep the previous FILE as FILE.~N~
      --noclobber        fail if FILE exists
      --nosync           do not fsync (faster, not durable)
      --tcp-established  save established TCP connections through TCP_REPAIR (needs
                         CAP_NET_ADMIN); without it they refuse the checkpoint
  -t, --timeout SEC      give up after SEC seconds, leaving the process untouched
${ENGINE_HELP}
      --json             print the result as JSON
      --job JOB          ask the daemon to checkpoint its job JOB instead of working here
      --preempt          with --job: send the daemon's preempt command instead (a
                         preemptive checkpoint: highest priority after failures,
                         the job is resumed later with ckpt resume); with no
                         after-action option the daemon's preemptive policy
                         decides (stop in the default policies)
${LOCAL_DAEMON_HELP}

A progress bar appears on a terminal when a checkpoint takes more than half a second.
Examples:
  ckpt checkpoint --kill -f /scratch/job.ckpt 4242
  ckpt checkpoint --node n17 --job mpi-42 --stop
  ckpt checkpoint --node n17 --job slurm-1234 --preempt`;

const SCOPES: readonly Scope[] = ['pid', 'tree', 'pgid', 'sid'];

function afterName(a: AfterAction): string {
  return a.kind === 'run' ? 'continue' : a.kind;
}

export const verb: Verb = {
  name: 'checkpoint',
  summary: 'checkpoint a process to a context file (here, or through a node daemon)',
  help: HELP,
  async run(argv) {
    const parsed = parseOptions(argv, SPECS);
    const after = afterFromOptions(parsed);
    const json = has(parsed, 'json');
    const job = last(parsed, 'job');
    const scopeText = last(parsed, 'scope') ?? 'tree';
    if (!SCOPES.includes(scopeText as Scope)) {
      throw new UsageError(`--scope must be one of ${SCOPES.join(', ')}, got '${scopeText}'`);
    }
    if (parsed.positionals.length > 1) {
      throw new UsageError(`expected one PID, got ${parsed.positionals.join(' ')}`);
    }
    const pidText = parsed.positionals[0];
    const timeout = last(parsed, 'timeout');
    const timeoutSec = timeout === undefined ? undefined : parseNumber(timeout, '--timeout', 0);

    const engine = engineFromOptions(parsed);
    const preempt = has(parsed, 'preempt');
    const daemonOption = LOCAL_DAEMON_SPECS.some((s) => has(parsed, s.long));
    if (job !== undefined || daemonOption || preempt) {
      const verbName = preempt ? 'preempt' : 'checkpoint';
      // The daemon checkpoints the jobs it manages, into its own image directory
      // (docs/bus.md): a remote requester names a job, never a PID or a path.
      if (job === undefined) {
        throw new UsageError(
          `${verbName} through a daemon needs --job JOB` +
            (pidText !== undefined
              ? ` (register PID ${pidText} first: ckpt attach --job JOB ${pidText})`
              : ''),
        );
      }
      if (pidText !== undefined) {
        throw new UsageError(`give --job JOB or a PID, not both (got PID ${pidText})`);
      }
      if (engine !== undefined) {
        throw new UsageError(
          "--engine is for local checkpoints; a daemon uses its configured engine (config 'engine', see ckpt status --daemon)",
        );
      }
      if (last(parsed, 'file') !== undefined) {
        throw new UsageError(
          '-f/--file is for local checkpoints; the daemon writes into its image directory',
        );
      }
      const explicitAfter = parsed.options.some((o) =>
        AFTER_OPTION_SPECS.some((a) => a.long === o.name),
      );
      // preempt with no after-action: the preemptive policy's `after` applies
      const body: Record<string, unknown> = { job };
      if (!preempt || explicitAfter) {
        body.after = busAfter(
          after,
          verbName,
          preempt ? ['stop', 'terminate', 'kill'] : ['continue', 'stop', 'terminate', 'kill'],
        );
      }
      if (timeoutSec !== undefined && !preempt) body.timeoutMs = Math.round(timeoutSec * 1000);
      const { settings, node } = localDaemon(parsed, verbName);
      const reply = await withBus(settings, (bus) =>
        bus.request(node, preempt ? 'preempt' : 'checkpoint', body, settings.timeoutMs),
      );
      return printResult(reply, json, preempt ? 'preempt' : 'checkpoint');
    }

    if (pidText === undefined) throw new UsageError('missing the PID to checkpoint');
    const id = parseInteger(pidText, 'PID', 1, 4194304);
    const file = last(parsed, 'file');
    const plan: CheckpointPlan = {
      id,
      scope: scopeText as Scope,
      scopeExplicit: has(parsed, 'scope'),
      destination: file === undefined ? { kind: 'default' } : { kind: 'file', path: file },
      replace: has(parsed, 'noclobber') ? 'noclobber' : has(parsed, 'backup') ? 'backup' : 'atomic',
      after,
      sync: !has(parsed, 'nosync'),
      save: [],
      ptraced: 'error',
      ptracer: 'error',
      quiet: false,
      verbose: false,
    };
    if (timeoutSec) plan.timeoutSec = timeoutSec;
    if (has(parsed, 'tcp-established')) plan.tcpEstablished = true;
    if (engine) plan.engine = engine;
    const done = await checkpointLocally(plan);
    const s = done.summary;
    if (json) {
      process.stdout.write(
        `${JSON.stringify({ ...s, pid: id, image: done.path, scope: done.scope, after: afterName(after) })}\n`,
      );
    } else {
      process.stdout.write(
        `checkpointed ${id} to ${done.path}: ${formatBytes(s.bytes)} in ${s.durationMs.toFixed(1)} ms ` +
          `(frozen ${s.frozenMs.toFixed(1)} ms${s.engine ? `, ${s.engine} engine` : ''}); process ${describeAfter(after)}\n`,
      );
    }
    return 0;
  },
};
