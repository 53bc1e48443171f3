/** `ckpt attach --job ID PID`: register a running process as a job of the local daemon. */
import { isToken } from '../shared/types.js';
import { withBus } from './bus-client.js';
import { UsageError } from './errors.js';
import { LOCAL_DAEMON_HELP, LOCAL_DAEMON_SPECS, localDaemon } from './local-daemon.js';
import { has, last, parseInteger, parseOptions } from './options.js';
import { printResult } from './remote.js';
import type { Verb } from './verb.js';

const HELP = `Usage: ckpt attach --job ID [--json] [DAEMON OPTIONS] PID

Register the running process PID as job ID with the node daemon (a scheduler's
prolog does this), so policies and commands can checkpoint it. Only registered
jobs can be checkpointed through the bus.

Options:
      --job ID       the job id (letters, digits, '_' and '-', up to 64)
      --json         print the daemon's answer as JSON
${LOCAL_DAEMON_HELP}`;

export function jobOption(value: string | undefined): string {
  if (!value) throw new UsageError('--job ID is required');
  if (!isToken(value)) {
    throw new UsageError(
      `--job '${value}': expected letters, digits, '_' or '-' (1-64 characters)`,
    );
  }
  return value;
}

export const verb: Verb = {
  name: 'attach',
  summary: 'register a running process as a job with the daemon',
  help: HELP,
  async run(argv) {
    const parsed = parseOptions(argv, [
      { long: 'job', arg: 'required', argName: 'ID' },
      { long: 'json' },
      ...LOCAL_DAEMON_SPECS,
    ]);
    const job = jobOption(last(parsed, 'job'));
    if (parsed.positionals.length !== 1) throw new UsageError('expected exactly one PID');
    const pid = parseInteger(parsed.positionals[0] as string, 'PID', 1, 2 ** 22);
    const { settings, node } = localDaemon(parsed);
    const reply = await withBus(settings, (bus) =>
      // no owner declared: the daemon takes it from /proc (root or the
      // admin group may attach another user's process; the job is theirs)
      bus.request(node, 'attach', { job, pid }, settings.timeoutMs),
    );
    return printResult(reply, has(parsed, 'json'), `attach ${job} (pid ${pid}) on ${node}`);
  },
};
