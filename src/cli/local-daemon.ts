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
import type { BusAuth, BusSettings } from './bus-client.js';
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
  /** The local bus's CLI principal: a user and a password file (0600, root's). */
  auth?: { user: string; passwordFile: string };
  /** The Unix socket every local user may send commands to. */
  socket?: string;
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
  const out: DaemonInfoFile = {
    url: data.url,
    node: data.node,
    prefix: data.prefix,
    pid: data.pid,
  };
  if (data.auth !== undefined) {
    const a = data.auth as Record<string, unknown>;
    if (
      typeof a !== 'object' ||
      a === null ||
      !isToken(a.user) ||
      typeof a.passwordFile !== 'string' ||
      !a.passwordFile.startsWith('/')
    )
      throw bad('auth', '{user: a token, passwordFile: an absolute path}');
    out.auth = { user: a.user, passwordFile: a.passwordFile };
  }
  if (data.socket !== undefined) {
    if (typeof data.socket !== 'string' || !data.socket.startsWith('/'))
      throw bad('socket', 'an absolute path');
    out.socket = data.socket;
  }
  return out;
}

/**
 * With --bus (or $CKPT_BUS_URL) and no credentials: the local daemon's own CLI credentials
 * when that URL is the local daemon's (a command copied from its banner keeps working).
 */
function localAuthFor(url: string, parsed: ParsedArgs): BusAuth | undefined {
  try {
    const info = readDaemonInfo(stateDirOf(parsed));
    return info.url === url ? info.auth : undefined;
  } catch {
    return undefined;
  }
}

/** Bus credentials from the options, else the environment (CKPT_BUS_*); undefined if none. */
export function busAuthFrom(parsed: ParsedArgs): BusAuth | undefined {
  const env = process.env;
  const pick = (opt: string, name: string) => last(parsed, opt) ?? (env[name] || undefined);
  const auth: BusAuth = {};
  const user = pick('bus-user', 'CKPT_BUS_USER');
  if (user !== undefined) auth.user = user;
  if (env.CKPT_BUS_PASSWORD) auth.password = env.CKPT_BUS_PASSWORD;
  const passwordFile = pick('bus-password-file', 'CKPT_BUS_PASSWORD_FILE');
  if (passwordFile !== undefined) auth.passwordFile = passwordFile;
  if (env.CKPT_BUS_TOKEN) auth.token = env.CKPT_BUS_TOKEN;
  const tokenFile = pick('bus-token-file', 'CKPT_BUS_TOKEN_FILE');
  if (tokenFile !== undefined) auth.tokenFile = tokenFile;
  const nkey = pick('bus-nkey', 'CKPT_BUS_NKEY');
  if (nkey !== undefined) auth.nkeySeedFile = nkey;
  const creds = pick('bus-creds', 'CKPT_BUS_CREDS');
  if (creds !== undefined) auth.credsFile = creds;
  const ca = pick('bus-tls-ca', 'CKPT_BUS_TLS_CA');
  const cert = pick('bus-tls-cert', 'CKPT_BUS_TLS_CERT');
  const key = pick('bus-tls-key', 'CKPT_BUS_TLS_KEY');
  if (ca !== undefined || cert !== undefined || key !== undefined) {
    auth.tls = {};
    if (ca !== undefined) auth.tls.ca = ca;
    if (cert !== undefined) auth.tls.cert = cert;
    if (key !== undefined) auth.tls.key = key;
  }
  return Object.keys(auth).length ? auth : undefined;
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
  let auth = busAuthFrom(parsed);
  const explicitBus = url !== undefined || auth !== undefined;
  let socket: string | undefined;
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
      auth ??= info.auth;
    }
    node ??= info.node;
    // the local daemon, reached without naming a bus: its socket (any local user may use
    // it; the daemon knows the caller from the kernel), the bus for another node
    if (!explicitBus && node === info.node && info.socket) socket = info.socket;
  }
  auth ??= localAuthFor(url, parsed);
  if (!isToken(node)) {
    throw new UsageError(`--node must be 1-64 letters, digits, '_' or '-', got '${node}'`);
  }
  const settings = settingsOf(parsed, url, prefix, auth);
  if (socket) settings.socket = socket;
  return { settings, node };
}

/** Bus settings only (for publish, whose --node is the event's, not a daemon's). */
export function busOnly(parsed: ParsedArgs): BusSettings {
  const optUrl = last(parsed, 'bus');
  let url = optUrl !== undefined ? checkUrl(optUrl, '--bus') : undefined;
  if (url === undefined && process.env.CKPT_BUS_URL)
    url = checkUrl(process.env.CKPT_BUS_URL, 'CKPT_BUS_URL');
  let prefix = last(parsed, 'prefix') ?? (process.env.CKPT_BUS_PREFIX || undefined);
  let auth = busAuthFrom(parsed);
  if (url === undefined) {
    const info = readDaemonInfo(stateDirOf(parsed));
    url = info.url;
    prefix ??= info.prefix;
    auth ??= info.auth;
  }
  auth ??= localAuthFor(url, parsed);
  return settingsOf(parsed, url, prefix, auth);
}

/** The server, prefix and credentials found, with --request-timeout. */
function settingsOf(
  parsed: ParsedArgs,
  url: string,
  prefix: string | undefined,
  auth: BusAuth | undefined,
): BusSettings {
  const settings: BusSettings = {
    url,
    timeoutMs:
      parseNumber(last(parsed, 'request-timeout') ?? '30', '--request-timeout', 0.1, 3600) * 1000,
  };
  if (prefix) settings.prefix = prefix;
  if (auth) settings.auth = auth;
  return settings;
}

/** The options every daemon-talking verb takes (its own --node where it has one). */
export const LOCAL_DAEMON_SPECS: readonly OptionSpec[] = [
  { long: 'bus', arg: 'required', argName: 'URL' },
  { long: 'node', arg: 'required', argName: 'NODE' },
  { long: 'prefix', arg: 'required', argName: 'PREFIX' },
  { long: 'state-dir', arg: 'required', argName: 'DIR' },
  { long: 'request-timeout', arg: 'required', argName: 'SEC' },
  { long: 'bus-user', arg: 'required', argName: 'USER' },
  { long: 'bus-password-file', arg: 'required', argName: 'FILE' },
  { long: 'bus-token-file', arg: 'required', argName: 'FILE' },
  { long: 'bus-nkey', arg: 'required', argName: 'FILE' },
  { long: 'bus-creds', arg: 'required', argName: 'FILE' },
  { long: 'bus-tls-ca', arg: 'required', argName: 'FILE' },
  { long: 'bus-tls-cert', arg: 'required', argName: 'FILE' },
  { long: 'bus-tls-key', arg: 'required', argName: 'FILE' },
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
      --request-timeout SEC  how long to wait for the daemon (default 30)
      --bus-user USER        NATS user; the password from --bus-password-file
                             FILE or $CKPT_BUS_PASSWORD ($CKPT_BUS_USER too)
      --bus-token-file FILE  NATS token from a file (or $CKPT_BUS_TOKEN)
      --bus-nkey FILE        nkey user seed file ($CKPT_BUS_NKEY)
      --bus-creds FILE       NATS .creds file ($CKPT_BUS_CREDS)
      --bus-tls-ca FILE      CA of the server's certificate ($CKPT_BUS_TLS_CA)
      --bus-tls-cert FILE    client certificate ($CKPT_BUS_TLS_CERT), with
      --bus-tls-key FILE     its key ($CKPT_BUS_TLS_KEY)
                             Without these: credentials in the URL, else the
                             local daemon's (daemon.json; readable by root only)
      Without --bus, $CKPT_BUS_URL or bus credentials, a command for the local
      daemon goes through its Unix socket (STATE-DIR/ckpt.sock): any local user
      may use it, for their own processes and jobs.`;

export const LOCAL_DAEMON_HELP = `Daemon:
      --node NODE            the daemon's node (default: $CKPT_NODE, else the
                             local daemon's, from STATE-DIR/daemon.json)
${BUS_LINES}`;

export const BUS_ONLY_HELP = `Bus:
${BUS_LINES}`;
