/**
 * `ckpt restart`: restart a process from a context file here (waiting for it and
 * exiting with its status, like BLCR's cr_restart), or ask a node's daemon to
 * restart one of its jobs over the bus.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { AFTER_OPTION_SPECS, afterFromOptions } from './blcr/after.js';
import { checkRelocation, MAX_RELOCATIONS, type RestartPlan } from './blcr/restart-options.js';
import { withBus } from './bus-client.js';
import { ENGINE_OPTION_SPEC, engineFromOptions } from './engine.js';
import { UsageError } from './errors.js';
import { LOCAL_DAEMON_HELP, LOCAL_DAEMON_SPECS, localDaemon } from './local-daemon.js';
import { restartLocally } from './local-restart.js';
import type { OptionSpec } from './options.js';
import { all, has, last, parseOptions } from './options.js';
import { busAfter, printResult } from './remote.js';
import type { Verb } from './verb.js';

const SPECS: readonly OptionSpec[] = [
  { long: 'no-restore-pid' },
  { long: 'restore-pgid' },
  { long: 'restore-sid' },
  { long: 'relocate', arg: 'required', argName: 'OLD=NEW' },
  ...AFTER_OPTION_SPECS,
  ENGINE_OPTION_SPEC,
  { long: 'quiet', short: 'q' },
  { long: 'pid-file', arg: 'required', argName: 'FILE' },
  { long: 'json' },
  { long: 'job', arg: 'required', argName: 'JOB' },
  ...LOCAL_DAEMON_SPECS,
];

const HELP = `Usage: ckpt restart [options] FILE
       ckpt restart --job JOB [--node NODE] [--bus URL] [FILE]

Bring a process back from a context file. Here (no --job) ckpt becomes the
parent of the restored process, waits for it and exits with its exit status
(128+N if it was killed by signal N); signals sent to ckpt are passed on to it.
An image of a process group or session whose processes' parents were outside it
(a shell's pipeline) has several top-level processes: ckpt is the parent of each,
waits for all and exits with the leader's status (else the first one's).
With --job the daemon on NODE (default: the local daemon) restarts its job JOB
(from FILE, or from the job's latest good image) and ckpt prints its answer.
A relative FILE is taken from the current directory.

Options:
      --no-restore-pid    give the process a new PID (default: its old one, which
                          must be free)
      --restore-pgid      restore every process's process group (default: the
                          restarter's); a gone leader is rebuilt, the rest refused
      --restore-sid       restore every process's session (default: the restarter's)
      --relocate OLD=NEW  open NEW where the image names the file OLD (up to 16)
      --stop              leave it stopped once restored (attach a debugger, then SIGCONT)
      --cont, --run       let it continue (default)
      --term, --kill, --abort, -S NUM
                          send that signal once restored
      --engine ENGINE     kernel, user or auto (default): kernel has ckpt.ko give a
                          normal user their processes' PIDs and exe link (needs
                          /dev/ckpt unless run with CAP_CHECKPOINT_RESTORE); auto
                          does so when /dev/ckpt is present. Images of both engines
                          restart either way.
  -q, --quiet             do not print the restored PID
      --pid-file FILE     write the restored PID to FILE (for scripts: this
                          command's own PID is not the job's)
      --json              with --job: print the daemon's answer as JSON
      --job JOB           ask the daemon to restart its job JOB
${LOCAL_DAEMON_HELP}

Examples:
  ckpt restart /scratch/job.ckpt; echo "job exited with $?"
  ckpt restart --no-restore-pid --stop context.4242
  ckpt restart --node n17 --job mpi-42`;

/** Atomically (temp + rename), so a script polling for it never reads half a number. */
function writePidFile(path: string, pid: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${pid}\n`);
    renameSync(tmp, path);
  } catch (err) {
    // the process is restored and running: say so, but do not abandon it
    process.stderr.write(
      `ckpt: cannot write --pid-file ${path}: ${(err as NodeJS.ErrnoException).code}\n`,
    );
  }
}

export const verb: Verb = {
  name: 'restart',
  summary: 'restart a process from a context file and wait for it (here, or through a node daemon)',
  help: HELP,
  async run(argv) {
    const parsed = parseOptions(argv, SPECS);
    const after = afterFromOptions(parsed);
    const job = last(parsed, 'job');
    if (parsed.positionals.length > 1) {
      throw new UsageError(`expected one context FILE, got ${parsed.positionals.join(' ')}`);
    }
    const file = parsed.positionals[0];
    const relocate = all(parsed, 'relocate').map(checkRelocation);
    if (relocate.length > MAX_RELOCATIONS) {
      throw new UsageError(`at most ${MAX_RELOCATIONS} --relocate options, got ${relocate.length}`);
    }

    const engine = engineFromOptions(parsed);
    if (job !== undefined || LOCAL_DAEMON_SPECS.some((s) => has(parsed, s.long))) {
      if (engine !== undefined) {
        throw new UsageError('--engine is for local restarts; a daemon uses its configured engine');
      }
      if (job === undefined) throw new UsageError('restart through a daemon needs --job JOB');
      const body: Record<string, unknown> = { job };
      if (file !== undefined) body.image = resolve(file);
      if (has(parsed, 'no-restore-pid')) body.restorePid = false;
      if (after.kind !== 'run') body.after = busAfter(after, 'restart', ['continue', 'stop']);
      if (relocate.length) {
        throw new UsageError('--relocate is for local restarts; the daemon restarts in place');
      }
      const { settings, node } = localDaemon(parsed, 'restart');
      const reply = await withBus(settings, (bus) =>
        bus.request(node, 'restart', body, settings.timeoutMs),
      );
      return printResult(reply, has(parsed, 'json'), 'restart');
    }

    if (file === undefined) throw new UsageError('missing the context FILE to restart from');
    const plan: RestartPlan = {
      source: { kind: 'file', path: resolve(file) },
      restorePid: !has(parsed, 'no-restore-pid'),
      restorePgid: has(parsed, 'restore-pgid'),
      restoreSid: has(parsed, 'restore-sid'),
      relocate,
      after,
      runOnFail: {},
      quiet: has(parsed, 'quiet'),
      verbose: false,
    };
    if (engine) plan.engine = engine;
    const pidFile = last(parsed, 'pid-file');
    return restartLocally(plan, {
      onRestored: (s) => {
        if (pidFile !== undefined) writePidFile(resolve(pidFile), s.pid);
        if (plan.quiet) return;
        const roots = s.roots ?? [];
        process.stderr.write(
          roots.length > 1
            ? `ckpt: restored processes ${roots.join(', ')} (waiting for all; the status is ${s.pid}'s)\n`
            : `ckpt: restored process ${s.pid}\n`,
        );
      },
    });
  },
};
