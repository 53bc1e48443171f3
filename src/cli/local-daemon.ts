/**
 * Finding the local daemon for `ckpt run` and `ckpt attach`: --bus/--node
 * when given, else $CKPT_BUS_URL/$CKPT_NODE, else the daemon.json the daemon
 * writes into its state directory ($CKPT_STATE_DIR or /var/lib/ckpt).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BusSettings } from './bus-client.js';
import { CliError, EXIT } from './errors.js';
import { last, type ParsedArgs, parseNumber } from './options.js';

export interface LocalDaemon {
  settings: BusSettings;
  node: string;
}

export function localDaemon(parsed: ParsedArgs): LocalDaemon {
  let url = last(parsed, 'bus') ?? process.env.CKPT_BUS_URL;
  let node = last(parsed, 'node') ?? process.env.CKPT_NODE;
  let prefix = last(parsed, 'prefix') ?? process.env.CKPT_BUS_PREFIX;
  if (!url || !node) {
    const dir = last(parsed, 'state-dir') ?? process.env.CKPT_STATE_DIR ?? '/var/lib/ckpt';
    const file = join(dir, 'daemon.json');
    let info: { url?: string; node?: string; prefix?: string };
    try {
      info = JSON.parse(readFileSync(file, 'utf8')) as typeof info;
    } catch {
      throw new CliError(
        `no local daemon found (${file} missing): start one (ckpt daemon) or give --bus URL --node NODE`,
        EXIT.unavailable,
      );
    }
    url ??= info.url;
    node ??= info.node;
    prefix ??= info.prefix;
  }
  if (!url || !node)
    throw new CliError('the daemon did not say its bus URL and node', EXIT.unavailable);
  const settings: BusSettings = {
    url,
    timeoutMs:
      parseNumber(last(parsed, 'request-timeout') ?? '30', '--request-timeout', 0.1, 3600) * 1000,
  };
  if (prefix) settings.prefix = prefix;
  return { settings, node };
}

export const LOCAL_DAEMON_SPECS = [
  { long: 'bus', arg: 'required' as const, argName: 'URL' },
  { long: 'node', arg: 'required' as const, argName: 'NODE' },
  { long: 'prefix', arg: 'required' as const, argName: 'PREFIX' },
  { long: 'state-dir', arg: 'required' as const, argName: 'DIR' },
  { long: 'request-timeout', arg: 'required' as const, argName: 'SEC' },
];

export const LOCAL_DAEMON_HELP = `Daemon:
      --bus URL --node NODE  the daemon's bus and node (default: $CKPT_BUS_URL and
                             $CKPT_NODE, else what the local daemon wrote to
                             STATE-DIR/daemon.json)
      --state-dir DIR        the local daemon's state directory (default
                             $CKPT_STATE_DIR or /var/lib/ckpt)
      --prefix PREFIX        subject prefix (default ft)
      --request-timeout SEC  how long to wait for the daemon (default 30)`;
