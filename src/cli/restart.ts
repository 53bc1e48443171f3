/**
 * `ckpt restart`: restart a process from a context file here (waiting for it and
 * exiting with its status, like BLCR's cr_restart), or ask a node's daemon to
 * restart one of its jobs over the bus.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { AFTER_OPTION_SPECS, afterFromOptions } from './blcr/after.js';
import { checkRelocation, MAX_RELOCATIONS, type RestartPlan } from './blcr/restart-options.js';
import { BUS_OPTION_SPECS, BUS_OPTIONS_HELP, busSettings, withBus } from './bus-client.js';
import { UsageError } from './errors.js';
import { restartLocally } from './local-restart.js';
import type { OptionSpec } from './options.js';
import { all, has, last, parseOptions } from './options.js';
import { busAfter, printResult, requireNode } from './remote.js';
import type { Verb } from './verb.js';

const SPECS: readonly OptionSpec[] = [
  { long: 'no-restore-pid' },
  { long: 'restore-pgid' },
  { long: 'restore-sid' },
  { long: 'relocate', arg: 'required', argName: 'OLD=NEW' },
  ...AFTER_OPTION_SPECS,
  { long: 'quiet', short: 'q' },
  { long: 'pid-file', arg: 'required', argName: 'FILE' },
  { long: 'json' },
  { long: 'node', arg: 'required', argName: 'NODE' },
  { long: 'job', arg: 'required', argName: 'JOB' },
  ...BUS_OPTION_SPECS,
];

const HELP = `Usage: ckpt restart [options] FILE
       ckpt restart --node NODE [--bus URL] --job JOB [FILE]

Bring a process back from a context file. Here (no --node) ckpt becomes the
parent of the restored process, waits for it and exits with its exit status
(128+N if it was killed by signal N); signals sent to ckpt are passed on to it.
With --node the daemon on NODE restarts its job JOB (from FILE, or from the
job's latest good image) and ckpt prints the daemon's answer.

Options:
      --no-restore-pid    give the process a new PID (default: its old one, which
                          must be free)
      --restore-pgid      restore its process group (default: a new one)
      --restore-sid       restore its session (default: a new one)
      --relocate OLD=NEW  open NEW where the image names the file OLD (up to 16)
      --stop              leave it stopped once restored (attach a debugger, then SIGCONT)
      --cont, --run       let it continue (default)
      --term, --kill, --abort, -S NUM
                          send that signal once restored
  -q, --quiet             do not print the restored PID
      --pid-file FILE     write the restored PID to FILE (for scripts: this
                          command's own PID is not the job's)
      --json              with --node: print the daemon's answer as JSON
      --node NODE         ask the daemon on NODE (over the bus)
      --job JOB           the daemon's job id (with --node)
${BUS_OPTIONS_HELP}

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
    const node = last(parsed, 'node');
    const job = last(parsed, 'job');
    if (parsed.positionals.length > 1) {
      throw new UsageError(`expected one context FILE, got ${parsed.positionals.join(' ')}`);
    }
    const file = parsed.positionals[0];
    const relocate = all(parsed, 'relocate').map(checkRelocation);
    if (relocate.length > MAX_RELOCATIONS) {
      throw new UsageError(`at most ${MAX_RELOCATIONS} --relocate options, got ${relocate.length}`);
    }

    if (node !== undefined || job !== undefined || has(parsed, 'bus')) {
      requireNode(node, 'restart');
      if (job === undefined) throw new UsageError('restart through the bus needs --job JOB');
      const body: Record<string, unknown> = { job };
      if (file !== undefined) body.image = file;
      if (has(parsed, 'no-restore-pid')) body.restorePid = false;
      if (after.kind !== 'run') body.after = busAfter(after, 'restart', ['continue', 'stop']);
      if (relocate.length) {
        throw new UsageError('--relocate is for local restarts; the daemon restarts in place');
      }
      const settings = busSettings(parsed);
      const reply = await withBus(settings, (bus) =>
        bus.request(node as string, 'restart', body, settings.timeoutMs),
      );
      return printResult(reply, has(parsed, 'json'), 'restart');
    }

    if (file === undefined) throw new UsageError('missing the context FILE to restart from');
    const plan: RestartPlan = {
      source: { kind: 'file', path: file },
      restorePid: !has(parsed, 'no-restore-pid'),
      restorePgid: has(parsed, 'restore-pgid'),
      restoreSid: has(parsed, 'restore-sid'),
      relocate,
      after,
      runOnFail: {},
      quiet: has(parsed, 'quiet'),
      verbose: false,
    };
    const pidFile = last(parsed, 'pid-file');
    return restartLocally(plan, {
      onRestored: (s) => {
        if (pidFile !== undefined) writePidFile(pidFile, s.pid);
        if (!plan.quiet) process.stderr.write(`ckpt: restored process ${s.pid}\n`);
      },
    });
  },
};
