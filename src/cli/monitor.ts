/**
 * `ckpt monitor`: the node-health monitor. Samples EDAC, thermal zones and PSI
 * (src/monitor), publishes an event on the bus for each threshold crossed, runs
 * until SIGINT/SIGTERM. --print shows the events, --dry-run only prints them.
 */
import { hostname } from 'node:os';
import {
  createMonitor,
  DEFAULT_THRESHOLDS,
  readSample,
  runMonitor,
  type Thresholds,
} from '../monitor/index.js';
import type { HealthEvent } from '../shared/types.js';
import { isToken } from '../shared/types.js';
import { type CliBus, connectBus } from './bus-client.js';
import { describeError, UsageError } from './errors.js';
import { BUS_ONLY_HELP, BUS_ONLY_SPECS, busOnly } from './local-daemon.js';
import { has, last, parseInteger, parseNumber, parseOptions } from './options.js';
import type { Verb } from './verb.js';

const D = DEFAULT_THRESHOLDS;
const HELP = `Usage: ckpt monitor [options]

Watch this node's health and publish an event on the bus when a threshold is
crossed; runs until interrupted (SIGINT/SIGTERM). Sources:
  EDAC      /sys/devices/system/edac/mc/mc*/{ce_count,ue_count}
            a new uncorrected error -> fatal node.memory.uncorrected;
            --ce-count corrected errors within --ce-window -> warning
            node.memory.corrected_rate
  thermal   /sys/class/thermal/thermal_zone*/{temp,trip_point_*_{temp,type}}
            within --critical-margin of a critical trip -> fatal
            node.thermal.critical; at a hot trip -> warning node.thermal.hot
  PSI       /proc/pressure/{cpu,memory,io}: "some avg10" at or above the
            threshold -> warning node.pressure.<resource>
An alert is published once when raised and once (info, TYPE.cleared) when it
clears. The first sample is the baseline: counts from before the monitor
started are not reported.

Options:
      --node NODE            node name in the events (default: short host name)
      --root DIR             read sysfs/procfs under DIR instead of / (for tests)
      --interval SEC         seconds between samples (default 10)
      --source NAME          event source (default ckpt-monitor)
      --ce-count N           corrected errors that raise a warning (default ${D.ceCount})
      --ce-window SEC        ... within this many seconds (default ${D.ceWindowSec})
      --critical-margin C    degrees below a critical trip that are fatal (default ${D.criticalMarginC})
      --hysteresis C         degrees below a limit before it clears (default ${D.hysteresisC})
      --psi-cpu PCT, --psi-memory PCT, --psi-io PCT
                             some-avg10 thresholds (default ${D.psi.cpu}, ${D.psi.memory}, ${D.psi.io}; 0 disables)
      --once                 take one sample, publish what it shows, exit
      --print                print every event as a JSON line on stdout
      --dry-run              print events instead of publishing (no bus needed)
${BUS_ONLY_HELP}

Example:
  ckpt monitor --bus nats://head:4222 --interval 5 --psi-memory 25`;

const SPECS = [
  { long: 'node', arg: 'required' as const, argName: 'NODE' },
  { long: 'root', arg: 'required' as const, argName: 'DIR' },
  { long: 'interval', arg: 'required' as const, argName: 'SEC' },
  { long: 'source', arg: 'required' as const, argName: 'NAME' },
  { long: 'ce-count', arg: 'required' as const, argName: 'N' },
  { long: 'ce-window', arg: 'required' as const, argName: 'SEC' },
  { long: 'critical-margin', arg: 'required' as const, argName: 'C' },
  { long: 'hysteresis', arg: 'required' as const, argName: 'C' },
  { long: 'psi-cpu', arg: 'required' as const, argName: 'PCT' },
  { long: 'psi-memory', arg: 'required' as const, argName: 'PCT' },
  { long: 'psi-io', arg: 'required' as const, argName: 'PCT' },
  { long: 'once' },
  { long: 'print' },
  { long: 'dry-run' },
  ...BUS_ONLY_SPECS,
];

function defaultNode(): string {
  const short = hostname().split('.')[0] ?? 'localhost';
  return short.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64) || 'localhost';
}

export function thresholdsFrom(parsed: ReturnType<typeof parseOptions>): Thresholds {
  const num = (name: string, dflt: number, min: number, max = Infinity) => {
    const v = last(parsed, name);
    return v === undefined ? dflt : parseNumber(v, `--${name}`, min, max);
  };
  const ce = last(parsed, 'ce-count');
  return {
    ceCount: ce === undefined ? D.ceCount : parseInteger(ce, '--ce-count', 1),
    ceWindowSec: num('ce-window', D.ceWindowSec, 1),
    criticalMarginC: num('critical-margin', D.criticalMarginC, 0, 200),
    hysteresisC: num('hysteresis', D.hysteresisC, 0, 100),
    psi: {
      cpu: num('psi-cpu', D.psi.cpu, 0, 100),
      memory: num('psi-memory', D.psi.memory, 0, 100),
      io: num('psi-io', D.psi.io, 0, 100),
    },
    psiHysteresis: D.psiHysteresis,
  };
}

export const verb: Verb = {
  name: 'monitor',
  summary: 'watch EDAC, thermal and PSI and publish health events',
  help: HELP,
  async run(argv) {
    const parsed = parseOptions(argv, SPECS);
    if (parsed.positionals.length)
      throw new UsageError(`unexpected argument '${parsed.positionals[0]}'`);
    const node = last(parsed, 'node') ?? defaultNode();
    if (!isToken(node))
      throw new UsageError(`--node must be 1-64 letters, digits, '_' or '-', got '${node}'`);
    const source = last(parsed, 'source') ?? 'ckpt-monitor';
    if (!isToken(source))
      throw new UsageError(`--source must be 1-64 letters, digits, '_' or '-', got '${source}'`);
    const root = last(parsed, 'root') ?? '/';
    const intervalMs =
      parseNumber(last(parsed, 'interval') ?? '10', '--interval', 0.01, 86400) * 1000;
    const thresholds = thresholdsFrom(parsed);
    const dryRun = has(parsed, 'dry-run');
    const print = dryRun || has(parsed, 'print');

    const first = await readSample(root); // fails early on an unreadable tree
    const bus: CliBus | undefined = dryRun ? undefined : await connectBus(busOnly(parsed));
    const publish = async (event: HealthEvent) => {
      if (print) process.stdout.write(`${JSON.stringify(event)}\n`);
      await bus?.publishHealth(event);
    };
    const report = (err: unknown) => process.stderr.write(`ckpt monitor: ${describeError(err)}\n`);
    const monitor = createMonitor({ root, node, source, intervalMs, thresholds, publish });

    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await monitor.tick();
      const psi = Object.keys(first.psi).join('/') || 'none';
      process.stderr.write(
        `ckpt monitor: node ${node}: ${first.edac.length} EDAC controller(s), ${first.thermal.length} thermal zone(s), PSI ${psi}; ready\n`,
      );
      if (!has(parsed, 'once')) await runMonitor(monitor, intervalMs, stop.signal, report);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await bus?.close().catch(() => {});
    }
    return 0;
  },
};
