/**
 * `ckpt status`: what works here (libckpt: version, backends, kernel, CPU) and,
 * with --node, what the node's daemon reports (jobs, queue, bus).
 */

import { engineStatus } from '../shared/engine-choice.js';
import { withBus } from './bus-client.js';
import { loadEngine } from './engine.js';
import { describeError, UsageError } from './errors.js';
import { LOCAL_DAEMON_HELP, LOCAL_DAEMON_SPECS, localDaemon } from './local-daemon.js';
import { has, parseOptions } from './options.js';
import { formatValue, printResult } from './remote.js';
import type { Verb } from './verb.js';

const HELP = `Usage: ckpt status [--json]
       ckpt status --daemon|--node NODE|--bus URL|--state-dir DIR [--json]

Without daemon options: whether libckpt works on this machine (its version, the
image format, the backends available and why not, kernel and CPU state size)
and which engine --engine auto (the default) uses here, and why.
With --daemon (the local daemon) or any daemon option: the status the daemon
reports (its jobs, queue, bus, engine).
Exit status 0 if what was asked for is available, 3 if libckpt or the daemon is
not, 4 if the daemon did not answer in time.

Options:
      --daemon               ask the local daemon (found as below) instead
      --json                 print JSON
${LOCAL_DAEMON_HELP}`;

export const verb: Verb = {
  name: 'status',
  summary: 'show what works here (libckpt) or what a node daemon reports',
  help: HELP,
  async run(argv) {
    const parsed = parseOptions(argv, [
      { long: 'daemon' },
      { long: 'json' },
      ...LOCAL_DAEMON_SPECS,
    ]);
    if (parsed.positionals.length)
      throw new UsageError(`unexpected argument '${parsed.positionals[0]}'`);
    const json = has(parsed, 'json');
    if (
      ['daemon', 'node', 'bus', 'state-dir', 'prefix', 'request-timeout'].some((o) =>
        has(parsed, o),
      )
    ) {
      const { settings, node } = localDaemon(parsed, 'status');
      const reply = await withBus(settings, (bus) =>
        bus.request(node, 'status', {}, settings.timeoutMs),
      );
      return printResult(reply, json, 'status');
    }
    let probe: Record<string, unknown>;
    try {
      probe = await (await loadEngine()).probe();
    } catch (err) {
      const line = `libckpt: not available: ${describeError(err).replace(/^libckpt is not available: /, '')}`;
      process.stdout.write(
        json ? `${JSON.stringify({ libckpt: null, error: line })}\n` : `${line}\n`,
      );
      return 3;
    }
    const s = engineStatus('auto', probe);
    const engine = `engine: ${s.inUse} (${s.why}; checkpoint and restart take --engine kernel|user|auto; a restart by a normal user gets its PIDs from the kernel engine)`;
    process.stdout.write(
      json
        ? `${JSON.stringify({ libckpt: probe })}\n`
        : `${engine}\nlibckpt:\n${formatValue(probe, '  ')}\n`,
    );
    return 0;
  },
};
