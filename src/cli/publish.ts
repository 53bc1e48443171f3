/**
 * `ckpt publish`: publish one node-health event (CloudEvents 1.0, docs/bus.md)
 * from the command line, e.g. from a site's health-check script.
 */
import { randomUUID } from 'node:crypto';
import { type HealthEvent, isToken, SEVERITIES, type Severity } from '../shared/types.js';
import { withBus } from './bus-client.js';
import { UsageError } from './errors.js';
import { BUS_ONLY_HELP, BUS_ONLY_SPECS, busOnly } from './local-daemon.js';
import { has, last, parseOptions } from './options.js';
import type { Verb } from './verb.js';

const HELP = `Usage: ckpt publish --node NODE --type TYPE [options]

Publish a node-health event on the bus, as a health monitor would. Daemons whose
policies match it react (e.g. a fatal event triggers an automatic checkpoint).

Options:
      --node NODE         the node the event is about (letters, digits, _ and -)
      --type TYPE         event type, e.g. node.failure.imminent, node.thermal.critical
      --severity SEV      info, warning, error or fatal (default: warning)
      --source SOURCE     who reports it (default: ckpt-cli)
      --data JSON         a JSON object with details, e.g. '{"reason":"fan 3 failed"}'
      --subject TEXT      what on the node it is about, e.g. mc0 or thermal_zone2
      --id ID             event id (default: a random UUID; receivers drop duplicates)
      --print             also print the event as JSON on stdout
${BUS_ONLY_HELP}

Example:
  ckpt publish --node n17 --type node.failure.imminent --severity fatal \\
    --data '{"reason":"uncorrectable ECC errors on DIMM B2"}'`;

const SPECS = [
  { long: 'node', arg: 'required' as const, argName: 'NODE' },
  { long: 'type', arg: 'required' as const, argName: 'TYPE' },
  { long: 'severity', arg: 'required' as const, argName: 'SEV' },
  { long: 'source', arg: 'required' as const, argName: 'SOURCE' },
  { long: 'data', arg: 'required' as const, argName: 'JSON' },
  { long: 'subject', arg: 'required' as const, argName: 'TEXT' },
  { long: 'id', arg: 'required' as const, argName: 'ID' },
  { long: 'print' },
  ...BUS_ONLY_SPECS,
];

/** Build and check the event (pure, for tests). */
export function buildEvent(parsed: ReturnType<typeof parseOptions>, now = new Date()): HealthEvent {
  if (parsed.positionals.length)
    throw new UsageError(`unexpected argument '${parsed.positionals[0]}'`);
  const node = last(parsed, 'node');
  if (node === undefined) throw new UsageError('missing --node NODE');
  if (!isToken(node))
    throw new UsageError(`--node must be 1-64 letters, digits, '_' or '-', got '${node}'`);
  const type = last(parsed, 'type');
  if (type === undefined) throw new UsageError('missing --type TYPE (e.g. node.failure.imminent)');
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(type)) {
    throw new UsageError(
      `--type must be dot-separated words like node.thermal.critical, got '${type}'`,
    );
  }
  const severity = last(parsed, 'severity') ?? 'warning';
  if (!(SEVERITIES as readonly string[]).includes(severity)) {
    throw new UsageError(`--severity must be one of ${SEVERITIES.join(', ')}, got '${severity}'`);
  }
  const source = last(parsed, 'source') ?? 'ckpt-cli';
  if (!isToken(source))
    throw new UsageError(`--source must be 1-64 letters, digits, '_' or '-', got '${source}'`);
  const event: HealthEvent = {
    specversion: '1.0',
    id: last(parsed, 'id') ?? randomUUID(),
    source,
    type,
    time: now.toISOString(),
    severity: severity as Severity,
    node,
  };
  const subject = last(parsed, 'subject');
  if (subject !== undefined) event.subject = subject;
  const dataText = last(parsed, 'data');
  if (dataText !== undefined) {
    let data: unknown;
    try {
      data = JSON.parse(dataText);
    } catch (err) {
      throw new UsageError(`--data must be a JSON object: ${(err as Error).message}`);
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      throw new UsageError(`--data must be a JSON object like '{"reason":"..."}', got ${dataText}`);
    }
    event.datacontenttype = 'application/json';
    event.data = data as Record<string, unknown>;
  }
  return event;
}

export const verb: Verb = {
  name: 'publish',
  summary: 'publish a node-health event on the bus (CloudEvents)',
  help: HELP,
  async run(argv) {
    const parsed = parseOptions(argv, SPECS);
    const event = buildEvent(parsed);
    const settings = busOnly(parsed);
    await withBus(settings, (bus) => bus.publishHealth(event));
    if (has(parsed, 'print')) process.stdout.write(`${JSON.stringify(event)}\n`);
    return 0;
  },
};
