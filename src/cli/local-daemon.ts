/**
 * Finding the daemon a verb talks to, in one place (bus credentials will join
 * here): --bus when given, else $CKPT_BUS_URL, else the daemon.json the local
 * daemon writes into its state directory (--state-dir, else $CKPT_STATE_DIR,
 * else /var/lib/ckpt: the same setting the daemon reads). The node is --node,
 * else $CKPT_NODE, else the local daemon's node. daemon.json is read as
 * untrusted input: each field is checked and a bad one is named.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isToken } from '../shared/types.js';
import type { BusSettings } from './bus-client.js';
import { CliError, EXIT, UsageError } from './errors.js';
import { last, type OptionSpec, type ParsedArgs, parseNumber } from './options.js';

export interface LocalDaemon {
  settings: BusSettings;
  /** The node to talk to: --node, $CKPT_NODE, or the local daemon's. */
  node: string;
}

/** What the daemon writes to STATE-DIR/daemon.json (src/daemon/daemon.ts). */
export interface DaemonInfoFile {
  url: string;
  node: string;
  prefix: string;
  pid: number;
}

export const DEFAULT_STATE_DIR = '/var/lib/ckpt';

export function stateDirOf(parsed: ParsedArgs): string {
  const v = last(parsed, 'state-dir') ?? process.env.CKPT_STATE_DIR;
  return v ? v : DEFAULT_STATE_DIR;
}

const NATS_URL = /^(nats|tls|ws|wss):\/\/[^\s]+$|^[\w.-]+:\d+$/;

function checkUrl(url: string, from: string): string {
  if (!NATS_URL.test(url)) {
    throw new UsageError(`${from} must be a NATS URL like nats://host:4222, got '${url}'`);
  }
  return url;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Read and check STATE-DIR/daemon.json; a missing file or a dead daemon is a clear error. */
export function readDaemonInfo(stateDir: string): DaemonInfoFile {
  const file = join(stateDir, 'daemon.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'ENOENT'
        ? `no local daemon found (${file} missing): start one (ckpt daemon --state-dir ${stateDir}) or give --bus URL`
        : `cannot read ${file}: ${code}`,
      EXIT.unavailable,
    );
  }
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new CliError(`${file} is not JSON: ${(err as Error).message}`, EXIT.unavailable);
  }
  const bad = (field: string, expected: string) =>
    new CliError(
      `${file}: '${field}' must be ${expected}, got ${JSON.stringify(data?.[field])}`,
      EXIT.unavailable,
    );
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw new CliError(
      `${file}: expected a JSON object {url, node, prefix, pid}`,
      EXIT.unavailable,
    );
  if (typeof data.url !== 'string' || !NATS_URL.test(data.url))
    throw bad('url', 'a NATS URL like nats://127.0.0.1:4222');
  if (!isToken(data.node)) throw bad('node', "a node name (letters, digits, '_', '-')");
  if (!isToken(data.prefix)) throw bad('prefix', 'a subject prefix token');
  if (typeof data.pid !== 'number' || !Number.isInteger(data.pid) || data.pid < 1)
    throw bad('pid', 'a process id');
  if (!alive(data.pid)) {
    throw new CliError(
      `the daemon that wrote ${file} (pid ${data.pid}, node ${data.node}) is not running: start it again (ckpt daemon --state-dir ${stateDir}) or give --bus URL`,
      EXIT.unavailable,
    );
  }
  return { url: data.url, node: data.node, prefix: data.prefix, pid: data.pid };
}

/**
 * The bus settings and node for a verb. `nodeRequired`: false when the verb
 * needs no node (publish names the event's node itself).
 */
export function localDaemon(parsed: ParsedArgs, what = 'this command'): LocalDaemon {
  const optUrl = last(parsed, 'bus');
  let url = optUrl !== undefined ? checkUrl(optUrl, '--bus') : undefined;
  if (url === undefined && process.env.CKPT_BUS_URL)
    url = checkUrl(process.env.CKPT_BUS_URL, 'CKPT_BUS_URL');
  let node = last(parsed, 'node') ?? (process.env.CKPT_NODE || undefined);
  let prefix = last(parsed, 'prefix') ?? (process.env.CKPT_BUS_PREFIX || undefined);
  if (url === undefined || node === undefined) {
    let info: DaemonInfoFile;
    try {
      info = readDaemonInfo(stateDirOf(parsed));
    } catch (err) {
      if (url !== undefined && node === undefined && err instanceof CliError) {
        throw new UsageError(
          `${what} needs --node NODE (and no local daemon says its own: ${err.message})`,
        );
      }
      throw err;
    }
    if (url === undefined) {
      url = info.url;
      prefix ??= info.prefix;
    }
    node ??= info.node;
  }
  if (!isToken(node)) {
    throw new UsageError(`--node must be 1-64 letters, digits, '_' or '-', got '${node}'`);
  }
  const settings: BusSettings = {
    url,
    timeoutMs:
      parseNumber(last(parsed, 'request-timeout') ?? '30', '--request-timeout', 0.1, 3600) * 1000,
  };
  if (prefix) settings.prefix = prefix;
  return { settings, node };
}

/** Bus settings only (for publish, whose --node is the event's, not a daemon's). */
export function busOnly(parsed: ParsedArgs): BusSettings {
  const optUrl = last(parsed, 'bus');
  let url = optUrl !== undefined ? checkUrl(optUrl, '--bus') : undefined;
  if (url === undefined && process.env.CKPT_BUS_URL)
    url = checkUrl(process.env.CKPT_BUS_URL, 'CKPT_BUS_URL');
  let prefix = last(parsed, 'prefix') ?? (process.env.CKPT_BUS_PREFIX || undefined);
  if (url === undefined) {
    const info = readDaemonInfo(stateDirOf(parsed));
    url = info.url;
    prefix ??= info.prefix;
  }
  const settings: BusSettings = {
    url,
    timeoutMs:
      parseNumber(last(parsed, 'request-timeout') ?? '30', '--request-timeout', 0.1, 3600) * 1000,
  };
  if (prefix) settings.prefix = prefix;
  return settings;
}

/** The options every daemon-talking verb takes (its own --node where it has one). */
export const LOCAL_DAEMON_SPECS: readonly OptionSpec[] = [
  { long: 'bus', arg: 'required', argName: 'URL' },
  { long: 'node', arg: 'required', argName: 'NODE' },
  { long: 'prefix', arg: 'required', argName: 'PREFIX' },
  { long: 'state-dir', arg: 'required', argName: 'DIR' },
  { long: 'request-timeout', arg: 'required', argName: 'SEC' },
];

/** The same without --node, for verbs that give --node their own meaning. */
export const BUS_ONLY_SPECS: readonly OptionSpec[] = LOCAL_DAEMON_SPECS.filter(
  (s) => s.long !== 'node',
);

const BUS_LINES = `      --bus URL              the bus (default: $CKPT_BUS_URL, else the URL the
                             local daemon wrote to STATE-DIR/daemon.json)
      --state-dir DIR        the local daemon's state directory (default
                             $CKPT_STATE_DIR or ${DEFAULT_STATE_DIR})
      --prefix PREFIX        subject prefix (default: $CKPT_BUS_PREFIX, else the
                             local daemon's, else ft)
      --request-timeout SEC  how long to wait for the daemon (default 30)`;

export const LOCAL_DAEMON_HELP = `Daemon:
      --node NODE            the daemon's node (default: $CKPT_NODE, else the
                             local daemon's, from STATE-DIR/daemon.json)
${BUS_LINES}`;

export const BUS_ONLY_HELP = `Bus:
${BUS_LINES}`;
