/**
 * `ckpt run --job ID -- CMD ARGS...`: start a program as a managed job of the
 * local daemon. The program gets this command's stdio and this command exits
 * with its status (128+N if a signal N ended it). Signals sent to this command
 * are passed on to the program.
 *
 * Registration comes first: the child is a small sh wrapper that blocks reading
 * fd 3 (a pipe from us), then closes it and execs the program, keeping its PID
 * and start time. We register that PID with the daemon and only then write to
 * the pipe, so a program that exits at once is still registered (and later
 * marked exited by the daemon). If registration fails we close the pipe
 * instead: the wrapper exits and the program never runs.
 *
 * If the daemon later restarts the job from an image (after a failure or a
 * preemption), the restored process is the daemon's, not this command's: this
 * command has ended with the status of the original process by then.
 */

import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { constants } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import type { Writable } from 'node:stream';
import { jobOption } from './attach.js';
import { withBus } from './bus-client.js';
import { CliError, EXIT, UsageError } from './errors.js';
import { LOCAL_DAEMON_HELP, LOCAL_DAEMON_SPECS, localDaemon } from './local-daemon.js';
import { last, parseOptions } from './options.js';
import { replyError } from './remote.js';
import type { Verb } from './verb.js';

const HELP = `Usage: ckpt run [--job ID] [DAEMON OPTIONS] -- PROGRAM [ARGS...]

Start PROGRAM as job ID of the node daemon: it runs with this command's stdio,
the daemon may checkpoint it (policies, commands), and ckpt run exits with its
exit status (128+N if killed by signal N). PROGRAM starts only once the daemon
has registered it, so even a program that exits at once is a registered job
(then marked exited). If the daemon cannot register it, PROGRAM is not started
and ckpt run fails (exit 3).

Options:
      --job ID               the job id (letters, digits, '_' and '-', up to 64);
                             default PROGRAM-PID, said on stderr
${LOCAL_DAEMON_HELP}`;

const FORWARD: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'];

/** Waits for one line on fd 3, closes it, becomes the program (same PID). */
const WRAPPER = 'read -r go <&3 || exit 125; exec 3<&-; exec "$@"';

/** Where PROGRAM is, as execvp would find it; a clear error (127/126) if not runnable. */
function findProgram(name: string): string {
  const check = (path: string): boolean => {
    try {
      if (!statSync(path).isFile()) return false;
      accessSync(path, fsConstants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (name.includes('/')) {
    if (!check(name)) {
      let exists = true;
      try {
        statSync(name);
      } catch {
        exists = false;
      }
      throw new CliError(
        `cannot run ${name}: ${exists ? 'not an executable file' : 'no such file'}`,
        exists ? 126 : 127,
      );
    }
    return name;
  }
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const p = join(dir || '.', name);
    if (check(p)) return p;
  }
  throw new CliError(`cannot run ${name}: not found in PATH`, 127);
}

export const verb: Verb = {
  name: 'run',
  summary: 'start a program as a job managed by the daemon',
  help: HELP,
  async run(argv) {
    const parsed = parseOptions(
      argv,
      [{ long: 'job', arg: 'required', argName: 'ID' }, ...LOCAL_DAEMON_SPECS],
      {
        stopAtPositional: true,
      },
    );
    const given = last(parsed, 'job');
    if (given) jobOption(given); // a bad id is refused before anything starts
    const command = parsed.positionals;
    if (!command.length)
      throw new UsageError('no program given: ckpt run [--job ID] -- PROGRAM [ARGS...]');
    const { settings, node } = localDaemon(parsed, 'run');
    findProgram(command[0] as string);
    const child = spawn('/bin/sh', ['-c', WRAPPER, 'ckpt-run', ...command], {
      stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
    });
    const gate = child.stdio[3] as Writable;
    gate.on('error', () => {}); // the wrapper gone early: its exit status says why
    const exited = new Promise<number>((resolve, reject) => {
      child.on('error', (err) => reject(new CliError(`cannot run /bin/sh: ${err.message}`, 127)));
      child.on('exit', (code, signal) => {
        resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 1) : 1));
      });
    });
    const spawned = await new Promise<boolean>((resolve) => {
      child.once('spawn', () => resolve(true));
      child.once('error', () => resolve(false));
    });
    if (!spawned) return exited;
    // no --job: the program's name and the job's pid, said once on stderr
    const job = given
      ? given
      : `${
          basename(command[0] as string)
            .replace(/[^A-Za-z0-9_-]/g, '_')
            .slice(0, 40) || 'job'
        }-${child.pid}`;
    if (!given) process.stderr.write(`ckpt run: job ${job}\n`);
    const handlers = FORWARD.map((sig) => {
      const h = () => child.kill(sig);
      process.on(sig, h);
      return [sig, h] as const;
    });
    try {
      try {
        const reply = await withBus(settings, (bus) =>
          bus.request(
            node,
            'attach',
            {
              job,
              pid: child.pid,
              owner: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
              command,
              cwd: process.cwd(),
            },
            settings.timeoutMs,
          ),
        );
        const err = replyError(reply);
        if (err)
          throw new CliError(
            `the daemon on ${node} did not register job ${job}: ${err}`,
            EXIT.unavailable,
          );
      } catch (err) {
        gate.destroy(); // EOF: the wrapper exits without running the program
        await exited.catch(() => 0);
        throw new CliError(
          `${(err as Error).message}; ${command[0]} was not started`,
          err instanceof CliError ? err.exitCode : EXIT.unavailable,
          { cause: err },
        );
      }
      gate.end('go\n');
      return await exited;
    } finally {
      for (const [sig, h] of handlers) process.off(sig, h);
    }
  },
};
