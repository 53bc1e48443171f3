/**
 * `ckpt status`: what works here (libckpt: version, backends, kernel, CPU) and,
 * with --node, what the node's daemon reports (jobs, queue, bus).
 */
import { BUS_OPTION_SPECS, BUS_OPTIONS_HELP, busSettings, withBus } from './bus-client.js';
import { loadEngine } from './engine.js';
import { describeError, UsageError } from './errors.js';
import { has, last, parseOptions } from './options.js';
import { formatValue, printResult, requireNode } from './remote.js';
import type { Verb } from './verb.js';

const HELP = `Usage: ckpt status [--json]
       ckpt status --node NODE [--bus URL] [--json]

Without --node: whether libckpt works on this machine (its version, the image
format, the backends available and why not, kernel and CPU state size).
With --node: the status the daemon on NODE reports (its jobs, queue, bus).
Exit status 0 if what was asked for is available, 3 if libckpt is not, 1 if the
daemon did not answer.

Options:
      --node NODE   ask the daemon on NODE over the bus
      --json        print JSON
${BUS_OPTIONS_HELP}`;

export const verb: Verb = {
  name: 'status',
  summary: 'show what works here (libckpt) or what a node daemon reports',
  help: HELP,
  async run(argv) {
    const parsed = parseOptions(argv, [
      { long: 'node', arg: 'required', argName: 'NODE' },
      { long: 'json' },
      ...BUS_OPTION_SPECS,
    ]);
    if (parsed.positionals.length)
      throw new UsageError(`unexpected argument '${parsed.positionals[0]}'`);
    const json = has(parsed, 'json');
    const node = last(parsed, 'node');
    if (node !== undefined || has(parsed, 'bus')) {
      requireNode(node, 'status');
      const settings = busSettings(parsed);
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
    process.stdout.write(
      json ? `${JSON.stringify({ libckpt: probe })}\n` : `libckpt:\n${formatValue(probe, '  ')}\n`,
    );
    return 0;
  },
};
