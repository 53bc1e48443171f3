/**
 * A real nats-server as a child process: the daemon's embedded bus when no URL is
 * configured, and every bus test's server. Port -1 (random) with --ports_file_dir to learn
 * the port (the nats.js test-launcher pattern); -js -sd <dir> for JetStream.
 * restart() brings it back on the same port with the same store, so clients reconnect and
 * JetStream state survives.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsServerError } from './errors.js';

/** $CKPT_NATS_SERVER, else the Debian package's binary (/usr/sbin or /usr/bin), else PATH. */
export const NATS_SERVER_BIN =
  process.env.CKPT_NATS_SERVER ??
  ['/usr/bin/nats-server', '/usr/sbin/nats-server'].find((p) => existsSync(p)) ??
  'nats-server';

export interface NatsServerOptions {
  /** TCP port; default -1 (random, learned from the ports file). */
  port?: number;
  /** Enable JetStream (default true). */
  jetstream?: boolean;
  /** JetStream store directory; default a fresh temporary directory. */
  storeDir?: string;
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Server log file; default: the log is kept in memory (last 64 KiB) for error messages. */
  logFile?: string;
  /**
   * A nats-server configuration file (-c): authorization, TLS. -a/-p/-js given here still
   * override what it says about the listen address and JetStream.
   */
  configFile?: string;
  /** The URL's scheme (tls for a server that requires TLS; default nats). */
  scheme?: 'nats' | 'tls';
  /** More command-line arguments (tests: --user/--pass, --auth). */
  args?: string[];
  /** How long to wait for the server to listen (default 15 s). */
  startTimeoutMs?: number;
}

export interface NatsServerHandle {
  /** nats://host:port */
  readonly url: string;
  readonly port: number;
  readonly storeDir?: string;
  /** PID of the current server process (changes on restart). */
  readonly pid: number;
  /** SIGTERM, then SIGKILL after 5 s; resolves when the process is gone. Idempotent. */
  stop(): Promise<void>;
  /** Stop (if running) and start again on the same port with the same store. */
  restart(): Promise<void>;
  /** The last lines the server logged (when no logFile was given). */
  log(): string;
}

const LOG_KEEP = 64 * 1024;
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Kill our servers if this process exits without stopping them (no orphans). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

interface Launched {
  child: ChildProcess;
  port: number;
  host: string;
}

export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const host = opts.host ?? '127.0.0.1';
  const jetstream = opts.jetstream ?? true;
  const storeDir = jetstream
    ? (opts.storeDir ?? mkdtempSync(join(tmpdir(), 'ckpt-nats-store-')))
    : undefined;
  const portsDir = mkdtempSync(join(tmpdir(), 'ckpt-nats-ports-'));
  const timeoutMs = opts.startTimeoutMs ?? 15_000;
  let logText = '';
  const appendLog = (chunk: Buffer | string): void => {
    logText += chunk.toString();
    if (logText.length > LOG_KEEP) logText = logText.slice(-LOG_KEEP);
  };

  const launch = async (port: number): Promise<Launched> => {
    const args = ['-a', host, '-p', String(port), '--ports_file_dir', portsDir];
    if (opts.configFile) args.push('-c', opts.configFile);
    if (opts.args) args.push(...opts.args);
    if (jetstream && storeDir) args.push('-js', '-sd', storeDir);
    if (opts.logFile) args.push('-l', opts.logFile);
    let child: ChildProcess;
    try {
      child = spawn(NATS_SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      throw new NatsServerError(`cannot run ${NATS_SERVER_BIN}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    let spawnError: Error | undefined;
    child.once('error', (err) => {
      spawnError = err;
    });
    child.stdout?.on('data', appendLog);
    child.stderr?.on('data', appendLog);
    running.add(child);
    child.once('exit', () => running.delete(child));
    installExitHook();

    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (spawnError) {
        throw new NatsServerError(`cannot run ${NATS_SERVER_BIN}: ${spawnError.message}`, {
          cause: spawnError,
        });
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new NatsServerError(
          `nats-server exited (${child.exitCode ?? child.signalCode}) while starting on ` +
            `${host}:${port}: ${lastLines(logText)}`,
        );
      }
      const learned = child.pid ? readPort(portsDir, child.pid) : undefined;
      if (learned !== undefined) return { child, port: learned, host };
      await sleep(20);
    }
    child.kill('SIGKILL');
    throw new NatsServerError(
      `nats-server did not listen on ${host}:${port} within ${timeoutMs} ms: ${lastLines(logText)}`,
    );
  };

  let current: Launched | undefined = await launch(opts.port ?? -1);
  const port = current.port;
  const url = `${opts.scheme ?? 'nats'}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;

  const stop = async (): Promise<void> => {
    const launched = current;
    current = undefined;
    if (!launched) return;
    await killAndWait(launched.child);
    if (launched.child.pid)
      rmSync(join(portsDir, portsFileName(launched.child.pid)), { force: true });
  };

  return {
    url,
    port,
    storeDir,
    get pid() {
      return current?.child.pid ?? -1;
    },
    stop,
    async restart() {
      await stop();
      // The old socket may linger a moment; retry the bind for a few seconds.
      const deadline = Date.now() + 5_000;
      for (;;) {
        try {
          current = await launch(port);
          return;
        } catch (err) {
          if (Date.now() > deadline || !/address already in use/i.test(String(err))) throw err;
          await sleep(100);
        }
      }
    },
    log: () => logText,
  };
}

function portsFileName(pid: number): string {
  return `nats-server_${pid}.ports`;
}

/** The client port from `<dir>/nats-server_<pid>.ports`, once it is fully written. */
function readPort(dir: string, pid: number): number | undefined {
  const file = join(dir, portsFileName(pid));
  if (!existsSync(file)) {
    // Some builds name the file after the executable; accept any ports file of this pid.
    const other = readdirSync(dir).find((f) => f.endsWith(`_${pid}.ports`));
    if (!other) return undefined;
    return parsePorts(join(dir, other));
  }
  return parsePorts(file);
}

function parsePorts(file: string): number | undefined {
  try {
    const ports = JSON.parse(readFileSync(file, 'utf8')) as { nats?: string[] };
    const first = ports.nats?.[0];
    if (!first) return undefined;
    const port = Number(new URL(first).port);
    return Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined; // not completely written yet
  }
}

function killAndWait(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function lastLines(text: string, n = 8): string {
  const lines = text.trim().split('\n');
  return lines.slice(-n).join(' | ') || '(no output)';
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
