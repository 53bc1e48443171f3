/**
 * The node daemon: bus -> policies -> executor -> libckpt, results back on
 * the bus. startDaemon() wires the layers and returns a handle; the `ckpt
 * daemon` verb (src/cli/daemon.ts) adds signals and the process lifetime.
 *
 * Order at start: local nats-server (when no URL is configured), bus, job
 * state (reconciled with the catalog), executor, policy engine, command
 * endpoints, metrics; then <stateDir>/daemon.json tells the CLI where the
 * daemon listens. The local nats-server's port is kept in <stateDir>/nats-port
 * so it stays the same across restarts.
 */
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Subject, type Subscription } from 'rxjs';
import {
  type Bus,
  type BusAuth,
  type CommandServer,
  createBus,
  hasAuth,
  type NatsServerHandle,
  startNatsServer,
  stripUrlCredentials,
} from '../bus/index.js';
import { type Engine, Executor } from '../engine/executor.js';
import { dirProblem, ImageTrust, loadImageKey } from '../engine/image-trust.js';
import { JobStore } from '../engine/jobs.js';
import * as libckpt from '../engine/libckpt.js';
import { createMetrics, type MetricsServer, startMetricsServer } from '../metrics/index.js';
import {
  type CheckpointOutcomeEvent,
  createPolicyEngine,
  loadPolicyFiles,
  type PolicyCommand,
  type PolicySet,
} from '../policies/index.js';
import { createAuthz, resolveGroup } from './authz.js';
import { asCommandError, commandHandlers } from './commands.js';
import { busAuthOf, type DaemonConfig } from './config.js';
import { prepareLocalBusAuth } from './local-bus.js';
import { type LocalSocket, SOCKET_NAME, startLocalSocket } from './local-socket.js';

export interface DaemonHandle {
  readonly url: string;
  readonly node: string;
  readonly metricsUrl?: string;
  readonly jobs: JobStore;
  /** Re-read the policy files; an invalid file keeps the old policies (and throws why). */
  reload(): void;
  /** Stop taking work, let running checkpoints finish (bounded), publish, close. */
  close(timeoutMs?: number): Promise<void>;
}

/** What `ckpt run`/`ckpt attach` read to find the local daemon. */
export interface DaemonInfo {
  url: string;
  node: string;
  prefix: string;
  pid: number;
  metrics?: string;
  /** The local bus's CLI principal: a user and a password file only root can read. */
  auth?: BusAuth;
  /** The Unix socket every local user may send commands to (src/daemon/local-socket.ts). */
  socket?: string;
}

/** Temp files libckpt leaves when its writer is killed mid-checkpoint (.NAME.tmp-XXXXXX). */
function sweepTempImages(imageDir: string): string[] {
  const removed: string[] = [];
  let dirs: string[] = [];
  try {
    dirs = readdirSync(imageDir);
  } catch {
    return removed;
  }
  for (const d of dirs) {
    let files: string[] = [];
    try {
      files = readdirSync(join(imageDir, d));
    } catch {
      continue;
    }
    for (const f of files) {
      if (/^\..+\.tmp-[A-Za-z0-9]{6}$/.test(f)) {
        rmSync(join(imageDir, d, f), { force: true });
        removed.push(join(imageDir, d, f));
      }
    }
  }
  return removed;
}

export function daemonInfoPath(stateDir: string): string {
  return join(stateDir, 'daemon.json');
}

export class DaemonStartError extends Error {
  override name = 'DaemonStartError';
}

/** True if nothing listens on host:port (we could bind it ourselves). */
function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** The port kept by an earlier start, or undefined (a bad file is reported, not trusted). */
function keptPort(file: string, logger: Logger): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const port = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || port < 1 || port > 65535) {
    logger.warn({ file, content: text.slice(0, 40) }, 'not a port number: choosing a new port');
    return undefined;
  }
  return port;
}

/**
 * The local nats-server's port: --local-port if configured (taken: fail), else
 * the one kept in STATE-DIR/nats-port (taken: say so and take a new one), else
 * a free one; the port used is kept for the next start.
 */
async function localPort(cfg: DaemonConfig, logger: Logger): Promise<number> {
  const host = '127.0.0.1';
  if (cfg.bus.localPort > 0) {
    if (!(await portFree(host, cfg.bus.localPort))) {
      throw new DaemonStartError(
        `local-port ${cfg.bus.localPort} is in use by another program on ${host}: free it, or choose another --local-port`,
      );
    }
    return cfg.bus.localPort;
  }
  const file = join(cfg.stateDir, 'nats-port');
  const kept = keptPort(file, logger);
  if (kept !== undefined) {
    if (await portFree(host, kept)) return kept;
    logger.warn(
      { port: kept, file },
      `port ${kept} (kept in ${file}) is in use by another program: this daemon takes a new port; commands given --bus nats://${host}:${kept} must use the new URL (commands without --bus find it in daemon.json)`,
    );
  }
  return -1;
}

/** Another daemon still running on this state dir? (its daemon.json, a live ckpt pid) */
function refuseSecondDaemon(stateDir: string): void {
  let info: { pid?: unknown; node?: unknown };
  try {
    info = JSON.parse(readFileSync(daemonInfoPath(stateDir), 'utf8')) as typeof info;
  } catch {
    return;
  }
  const pid = info.pid;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid < 1 || pid === process.pid) return;
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return; // gone: a stale file of a daemon that did not stop cleanly
  }
  if (!cmdline.includes('ckpt') || !cmdline.includes('daemon')) return; // a reused pid
  throw new DaemonStartError(
    `another daemon (pid ${pid}, node ${String(info.node)}) uses the state directory ${stateDir}: stop it first, or give this one its own --state-dir`,
  );
}

export async function startDaemon(
  cfg: DaemonConfig,
  logger: Logger,
  engine: Engine = libckpt,
): Promise<DaemonHandle> {
  mkdirSync(cfg.stateDir, { recursive: true, mode: 0o700 });
  // others may reach the socket and daemon.json by name, never list the directory; the
  // secrets live in 0700 subdirectories (bus/, keys/) and 0600 files
  // a directory someone else made (before our first start) stays theirs: they could swap
  // keys/, bus/ or jobs.json under us; only the daemon's own directory will do
  const stateOwner = lstatSync(cfg.stateDir);
  const me = process.geteuid?.() ?? 0;
  if (!stateOwner.isDirectory() || stateOwner.uid !== me) {
    throw new DaemonStartError(
      `state directory ${cfg.stateDir} ${stateOwner.isDirectory() ? `is owned by uid ${stateOwner.uid}` : 'is not a directory'}: expected a directory of the daemon's (uid ${me}); move it away and let the daemon make it`,
    );
  }
  chmodSync(cfg.stateDir, 0o711);
  refuseSecondDaemon(cfg.stateDir);
  const authz = createAuthz(resolveGroup(cfg.adminGroup));
  const imageKey = await loadImageKey(cfg.stateDir);
  // the images (and their signatures) live where only the daemon can write
  mkdirSync(cfg.imageDir, { recursive: true, mode: 0o700 });
  const imageDirBad = dirProblem(cfg.imageDir);
  if (imageDirBad) throw new DaemonStartError(`image directory ${imageDirBad}`);
  let policies: PolicySet = loadPolicyFiles(cfg.policies);
  // jobs belong to a node name: refuse another node's state before starting anything
  const jobs = JobStore.load(join(cfg.stateDir, 'jobs.json'), cfg.node);
  let nats: NatsServerHandle | undefined;
  let url = cfg.bus.url;
  let auth: BusAuth = busAuthOf(cfg);
  /** What daemon.json tells root's CLI to authenticate with (file paths, never a secret). */
  let cliAuth: BusAuth | undefined;
  if (!url) {
    if (hasAuth(auth)) {
      throw new DaemonStartError(
        'bus credentials are configured but no bus URL: the local nats-server uses credentials the daemon generates (give --bus URL to use yours)',
      );
    }
    const local = prepareLocalBusAuth(cfg.stateDir, cfg.bus.prefix);
    auth = local.daemon;
    cliAuth = local.admin;
    nats = await startNatsServer({
      host: '127.0.0.1',
      port: await localPort(cfg, logger),
      jetstream: true,
      storeDir: join(cfg.stateDir, 'nats'),
      logFile: join(cfg.stateDir, 'nats-server.log'),
      configFile: local.configFile,
    });
    url = nats.url;
    writeFileSync(join(cfg.stateDir, 'nats-port'), `${nats.port}\n`, { mode: 0o644 });
    logger.info(
      { url, pid: nats.pid, credentials: local.dir },
      'started a local nats-server (loopback only, credentials required)',
    );
  }
  let bus: Bus;
  try {
    bus = await createBus({
      url,
      auth,
      name: `ckpt-daemon-${cfg.node}`,
      node: cfg.node,
      prefix: cfg.bus.prefix,
      logger,
      outboxDir: join(cfg.stateDir, 'outbox'),
      waitForServer: false,
      history: cfg.bus.historyMaxBytes === 0 ? {} : { maxBytes: cfg.bus.historyMaxBytes },
    });
  } catch (err) {
    await nats?.stop();
    throw err;
  }
  const metrics = createMetrics({ defaultMetrics: true });
  const health$ = bus.health$;
  const healthSub = health$.subscribe((e) =>
    metrics.eventReceived({ severity: e.severity, source: e.source }),
  );
  const rejectedSub = bus.rejected$.subscribe((r) => {
    if (r.on === 'health') metrics.eventRejected(r.reason);
    logger.warn({ on: r.on, reason: r.reason, subject: r.subject }, r.message);
  });

  const stale = sweepTempImages(cfg.imageDir);
  if (stale.length)
    logger.warn({ files: stale }, 'removed half-written images of an interrupted run');
  for (const job of jobs.list()) {
    if (job.lastImage) continue;
    const rec = await bus.catalog.get(cfg.node, job.id).catch(() => undefined);
    if (rec) jobs.update(job.id, { lastImage: rec, images: [rec] });
  }
  metrics.setJobs(jobs.list().length);
  const outcomes$ = new Subject<CheckpointOutcomeEvent>();
  const trust = new ImageTrust(imageKey, cfg.imageDir);
  const executor = new Executor({
    engine,
    trust,
    jobs,
    bus,
    imageDir: cfg.imageDir,
    logDir: join(cfg.stateDir, 'logs'),
    concurrency: cfg.concurrency,
    timeoutMs: cfg.timeoutMs,
    backend: libckpt.BACKEND[cfg.engine],
    retain: Math.max(1, cfg.retain),
    logger,
    hooks: {
      checkpointDone(o) {
        metrics.checkpointDone({
          result: o.result,
          trigger: o.trigger.kind,
          bytes: o.bytes,
          durationMs: o.durationMs,
          frozenMs: o.frozenMs,
        });
        outcomes$.next({ job: o.job, durationMs: o.durationMs, ok: o.ok, trigger: o.trigger });
      },
      restartDone(o) {
        metrics.restartDone({
          result: o.ok ? 'ok' : 'error',
          trigger: o.trigger.kind,
          bytes: o.bytes,
          durationMs: o.durationMs,
        });
      },
      queueDepth: (n) => metrics.setQueueDepth(n),
    },
  });

  // ---- policies: commands go through them so arbitration applies
  const commands$ = new Subject<PolicyCommand>();
  /** A command's caller waits for the decision it caused: keyed by the command id. */
  const waiting = new Map<string, (r: Promise<object>) => void>();
  let policySub: Subscription | undefined;
  const subscribePolicies = (set: PolicySet) => {
    policySub?.unsubscribe();
    policySub = createPolicyEngine(
      set,
      { health$, commands$, jobs$: jobs.snapshots$, outcomes$ },
      { node: cfg.node, collapseWindowMs: cfg.collapseMs },
    ).subscribe({
      next: (d) => {
        const id = d.request.trigger.eventId;
        let done: Promise<object>;
        if (d.kind === 'checkpoint') {
          logger.info(
            { job: d.request.job, trigger: d.request.trigger, after: d.request.after },
            'policy decision: checkpoint',
          );
          done = executor.checkpoint(d.request).then((r) => ({
            image: r.path,
            bytes: r.bytes,
            durationMs: r.durationMs,
            frozenMs: r.frozenMs,
          }));
        } else {
          logger.info(
            { job: d.request.job, trigger: d.request.trigger },
            'policy decision: resume',
          );
          done = executor.resume(d.request);
        }
        done.catch(() => {});
        const w = id ? waiting.get(id) : undefined;
        if (w && id) {
          waiting.delete(id);
          w(done);
        }
      },
      error: (err: Error) => logger.error({ err: err.message }, 'policy engine stopped'),
    });
  };
  subscribePolicies(policies);

  /** Send a command through the policies and wait for what it decided (or a skip). */
  const viaPolicies = (cmd: PolicyCommand, skipped: string): Promise<object> =>
    new Promise<object>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(cmd.id);
        resolve({ skipped });
      }, 1000);
      waiting.set(cmd.id, (p) => {
        clearTimeout(timer);
        p.then(resolve, (err) => reject(asCommandError(err)));
      });
      commands$.next(cmd);
    });

  const handlers = commandHandlers({
    node: cfg.node,
    jobs,
    executor,
    bus,
    logger,
    metrics,
    policies: () => policies,
    engine: cfg.engine,
    protectedPids: () => (nats && nats.pid > 0 ? [nats.pid] : []),
    authz,
    viaPolicies,
  });
  let server: CommandServer = await bus.serveCommands(handlers);
  const localSocket: LocalSocket = await startLocalSocket(
    join(cfg.stateDir, SOCKET_NAME),
    (verb, body, caller) => server.local(verb, body, caller),
    logger,
  );

  let metricsServer: MetricsServer | undefined;
  if (cfg.metrics.port >= 0) {
    metricsServer = await startMetricsServer(metrics, {
      port: cfg.metrics.port,
      host: cfg.metrics.host,
    });
  }
  const poll = setInterval(() => {
    for (const id of jobs.poll())
      logger.info({ job: id, state: jobs.get(id)?.state }, 'job state changed');
  }, 500);

  const info: DaemonInfo = {
    url: stripUrlCredentials(url),
    ...(cliAuth ? { auth: cliAuth } : {}),
    node: cfg.node,
    prefix: cfg.bus.prefix,
    pid: process.pid,
    metrics: metricsServer?.url,
    socket: localSocket.path,
  };
  const infoFile = daemonInfoPath(cfg.stateDir);
  writeFileSync(`${infoFile}.tmp`, `${JSON.stringify(info)}\n`, { mode: 0o644 });
  renameSync(`${infoFile}.tmp`, infoFile);

  let closing: Promise<void> | undefined;
  return {
    url,
    node: cfg.node,
    metricsUrl: metricsServer?.url,
    jobs,
    reload() {
      const next = loadPolicyFiles(cfg.policies); // throws PolicyFileError: old ones stay
      policies = next;
      subscribePolicies(next);
      logger.info({ policies: next.policies.map((p) => p.name) }, 'policies reloaded');
    },
    close(timeoutMs = 10_000) {
      closing ??= (async () => {
        clearInterval(poll);
        await localSocket.close();
        await server.stop().catch(() => {});
        server = {
          stop: async () => {},
          local: async () => {
            throw new Error('the daemon is shutting down');
          },
        };
        policySub?.unsubscribe();
        await executor.close(timeoutMs);
        healthSub.unsubscribe();
        rejectedSub.unsubscribe();
        await bus
          .close({ timeoutMs: 5000 })
          .catch((err: Error) => logger.error({ err: err.message }, 'bus close'));
        await metricsServer?.close();
        await nats?.stop();
        rmSync(infoFile, { force: true });
        logger.info('daemon stopped');
      })();
      return closing;
    },
  };
}
