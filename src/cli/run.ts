/**
 * `ckpt run --job ID -- CMD ARGS...`: start a program as a managed job of the
 * local daemon. The program gets this command's stdio, is registered with the
 * daemon (attach) before anything else happens, and this command exits with
 * its status (128+N if a signal N ended it). Signals sent to this command are
 * passed on to the program.
 *
 * If the daemon later restarts the job from an image (after a failure or a
 * preemption), the restored process is the daemon's, not this command's: this
 * command has ended with the status of the original process by then.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { jobOption } from './attach.js';
import { withBus } from './bus-client.js';
import { CliError, EXIT, UsageError } from './errors.js';
import { LOCAL_DAEMON_HELP, LOCAL_DAEMON_SPECS, localDaemon } from './local-daemon.js';
import { last, parseOptions } from './options.js';
import { replyError } from './remote.js';
import type { Verb } from './verb.js';

const HELP = `Usage: ckpt run --job ID [DAEMON OPTIONS] -- PROGRAM [ARGS...]

Start PROGRAM as job ID of the node daemon: it runs with this command's stdio,
the daemon may checkpoint it (policies, commands), and ckpt run exits with its
exit status (128+N if killed by signal N). If the daemon cannot register it,
PROGRAM is stopped and ckpt run fails (exit 3).

Options:
      --job ID       the job id (letters, digits, '_' and '-', up to 64)
${LOCAL_DAEMON_HELP}`;

const FORWARD: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'];

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
    const job = jobOption(last(parsed, 'job'));
    const command = parsed.positionals;
    if (!command.length)
      throw new UsageError('no program given: ckpt run --job ID -- PROGRAM [ARGS...]');
    const { settings, node } = localDaemon(parsed);
    const child = spawn(command[0] as string, command.slice(1), { stdio: 'inherit' });
    const exited = new Promise<number>((resolve, reject) => {
      child.on('error', (err) =>
        reject(new CliError(`cannot run ${command[0]}: ${err.message}`, 127)),
      );
      child.on('exit', (code, signal) => {
        resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 1) : 1));
      });
    });
    const spawned = await new Promise<boolean>((resolve) => {
      child.once('spawn', () => resolve(true));
      child.once('error', () => resolve(false));
    });
    if (!spawned) return exited;
    const handlers = FORWARD.map((sig) => {
      const h = () => child.kill(sig);
      process.on(sig, h);
      return [sig, h] as const;
    });
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
      child.kill('SIGKILL');
      await exited.catch(() => 0);
      throw err instanceof CliError ? err : new CliError((err as Error).message, EXIT.unavailable);
    }
    try {
      return await exited;
    } finally {
      for (const [sig, h] of handlers) process.off(sig, h);
    }
  },
};
