/**
 * createBus: the daemon's NATS edge. Health events in (validated, invalid ones counted and
 * logged, never acted on), commands served with structured replies, results and catalog
 * updates out through an ordered, acked, retried outbox, history in a JetStream stream.
 * Reconnects forever; nothing arriving from the network can throw out of a callback.
 */
import { randomUUID } from 'node:crypto';
import {
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { connect, headers, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { type Observable, Subject } from 'rxjs';
import type { HealthEvent } from '../shared/types.js';
import { isToken } from '../shared/types.js';
import { authOptions, type BusAuth, BusAuthError, redactUrl } from './auth.js';
import { type Catalog, createCatalog, DEFAULT_CATALOG_BUCKET } from './catalog.js';
import { type Caller, type CommandHandlers, type CommandReply, handleCommand } from './commands.js';
import { BusClosedError, BusConnectionError, type CommandErrorCode } from './errors.js';
import { HEALTH_REJECT_REASONS, type HealthRejectReason, parseHealthMessage } from './health.js';
import {
  ensureHistoryStream,
  type HistoryEntry,
  type HistoryFilter,
  type HistoryOptions,
  readHistory,
} from './history.js';
import { Outbox, type OutboxStats } from './outbox.js';
import { buildResult, type ResultPayload } from './results.js';
import {
  auditSubject,
  checkPrefix,
  checkToken,
  commandSubject,
  DEFAULT_PREFIX,
  defaultStreamName,
  type ResultKind,
  type ResultPhase,
  resultSubject,
} from './subjects.js';

export interface BusOptions {
  /** NATS server URL(s); credentials in a URL are used when `auth` gives none. */
  url: string | string[];
  /** How to authenticate (user/password, token, nkey, creds, TLS): src/bus/auth.ts. */
  auth?: BusAuth;
  /** Connection name shown by the server (e.g. `ckpt-daemon-n1`). */
  name: string;
  /** Subject prefix (default `ft`). */
  prefix?: string;
  /** This daemon's node: a subject-safe token. */
  node: string;
  logger: Logger;
  /** Health events of this node only (default) or of every node. */
  healthScope?: 'node' | 'all';
  history?: HistoryOptions;
  catalog?: { bucket?: string; history?: number };
  /** Persist undelivered results here, resent by the next bus on the same directory. */
  outboxDir?: string;
  /** Health events larger than this are rejected (default 64 KiB). */
  maxEventBytes?: number;
  /** Wait for the server to appear instead of failing at once (default false). */
  waitForServer?: boolean;
  /** Per-attempt wait for a JetStream ack (default 5 s). */
  ackTimeoutMs?: number;
  /** Reconnect wait (default 250 ms). */
  reconnectTimeWaitMs?: number;
}

export interface Rejection {
  /** Where it came in. */
  on: 'health' | 'command';
  /** Health: a HealthRejectReason; command: the error code of the reply. */
  reason: string;
  subject: string;
  message: string;
}

export interface BusCounters {
  health: { received: number; accepted: number; rejected: Record<HealthRejectReason, number> };
  commands: { received: number; ok: number; failed: Partial<Record<CommandErrorCode, number>> };
}

export interface BusStatus {
  connected: boolean;
  closed: boolean;
  server?: string;
  disconnects: number;
  reconnects: number;
  lastChange: string;
  counters: BusCounters;
  outbox: OutboxStats;
}

export interface ResultReceipt {
  id: string;
  subject: string;
}

export interface CommandServer {
  /**
   * A command that came another way than the bus (the daemon's Unix socket), handled and
   * audited exactly as one from the bus; `verb` is the subject's last token.
   */
  local(verb: string, data: Uint8Array, caller: Caller): Promise<CommandReply>;
  stop(): Promise<void>;
}

export interface Bus {
  readonly node: string;
  readonly prefix: string;
  readonly stream: string;
  /** Valid health events (this node, or all nodes with healthScope 'all'). Completes on close. */
  readonly health$: Observable<HealthEvent>;
  /** Every rejected health event and every failed command, as it happens. */
  readonly rejected$: Observable<Rejection>;
  readonly catalog: Catalog;
  /** Serve `<prefix>.cmd.<node>.<verb>`; resolves once the server has the subscription. */
  serveCommands(handlers: CommandHandlers): Promise<CommandServer>;
  /**
   * Queue a result; throws BusValidationError at once if the payload is invalid. The promise
   * resolves when JetStream acked it (retried until then, in order); it never rejects
   * unhandled, only with BusClosedError if the bus closes first.
   */
  publishResult<K extends ResultKind, P extends ResultPhase>(
    kind: K,
    phase: P,
    payload: ResultPayload<K, P>,
  ): Promise<ResultReceipt>;
  /** What the history stream holds that matches, oldest first, up to now. */
  history(filter?: HistoryFilter, since?: Date | string | number): AsyncIterable<HistoryEntry>;
  status(): BusStatus;
  /** Wait until everything queued is acked (false on timeout). */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Stop input, wait (up to timeoutMs, default 5 s) for the outbox, drain the connection. */
  close(opts?: { timeoutMs?: number }): Promise<void>;
}

const MAX_OUTBOX_MESSAGE = 512 * 1024;

export async function createBus(opts: BusOptions): Promise<Bus> {
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  checkPrefix(prefix);
  checkToken('node', opts.node);
  const node = opts.node;
  // the daemon's logger already names the node in every line
  const logger = opts.logger.child(
    'node' in opts.logger.bindings() ? { component: 'bus' } : { component: 'bus', node },
  );
  const stream = opts.history?.stream ?? defaultStreamName(prefix);
  const bucket = opts.catalog?.bucket ?? DEFAULT_CATALOG_BUCKET;
  const maxEventBytes = opts.maxEventBytes ?? 64 * 1024;
  const ackTimeoutMs = opts.ackTimeoutMs ?? 5_000;

  let nc: NatsConnection;
  const where = redactUrl(opts.url);
  try {
    nc = await connect({
      ...authOptions(opts.url, opts.auth),
      name: opts.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: opts.reconnectTimeWaitMs ?? 250,
      waitOnFirstConnect: opts.waitForServer ?? false,
    });
  } catch (err) {
    if (err instanceof BusAuthError) throw err;
    throw new BusConnectionError(`cannot reach NATS at ${where}: ${(err as Error).message}`, {
      cause: err,
    });
  }

  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let kv: KV;
  const kvm = () => new Kvm(js);
  const ensure = async (): Promise<void> => {
    await ensureHistoryStream(jsm, prefix, stream, opts.history ?? {}, logger);
    try {
      kv = await kvm().create(bucket, { history: opts.catalog?.history ?? 5 });
    } catch (err) {
      throw new BusConnectionError(
        `cannot open the catalog bucket ${bucket}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  };
  try {
    js = jetstream(nc, { timeout: ackTimeoutMs });
    jsm = await jetstreamManager(nc).catch((err: unknown) => {
      throw new BusConnectionError(
        `JetStream is not available on ${where} (start nats-server with -js): ${(err as Error).message}`,
        { cause: err },
      );
    });
    await ensure();
  } catch (err) {
    await nc.close().catch(() => {});
    throw err;
  }

  // --- connection status -------------------------------------------------------------
  const state = {
    connected: true,
    closed: false,
    disconnects: 0,
    reconnects: 0,
    lastChange: new Date().toISOString(),
  };
  let lastEnsure = 0;
  const outbox = new Outbox({
    logger,
    dir: opts.outboxDir,
    publish: async (m) => {
      const h = headers();
      for (const [k, v] of Object.entries(m.headers ?? {})) h.set(k, v);
      await js.publish(m.subject, m.data, { msgID: m.id, timeout: ackTimeoutMs, headers: h });
    },
    // A server that came back with an empty store has neither stream nor bucket: recreate.
    onFailure: async (err) => {
      if (!state.connected || Date.now() - lastEnsure < 2_000) return;
      if (
        !/no responders|not found|503/i.test(
          `${(err as Error).message} ${String((err as Error).cause)}`,
        )
      )
        return;
      lastEnsure = Date.now();
      logger.warn('outbox: stream or bucket missing, creating them again');
      await ensure();
    },
  });

  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        state.connected = false;
        state.disconnects++;
        state.lastChange = new Date().toISOString();
        logger.warn({ server: s.server }, 'NATS disconnected; reconnecting');
      } else if (s.type === 'reconnect') {
        state.connected = true;
        state.reconnects++;
        state.lastChange = new Date().toISOString();
        logger.info({ server: s.server, pending: outbox.pending }, 'NATS reconnected');
        outbox.nudge();
      } else if (s.type === 'error') {
        logger.warn({ err: s.error }, 'NATS error');
      }
    }
  })().catch((err: unknown) => logger.error({ err }, 'NATS status loop failed'));

  // --- health in ----------------------------------------------------------------------
  const counters: BusCounters = {
    health: {
      received: 0,
      accepted: 0,
      rejected: Object.fromEntries(HEALTH_REJECT_REASONS.map((r) => [r, 0])) as Record<
        HealthRejectReason,
        number
      >,
    },
    commands: { received: 0, ok: 0, failed: {} },
  };
  const health = new Subject<HealthEvent>();
  const rejected = new Subject<Rejection>();
  const healthFilter =
    (opts.healthScope ?? 'node') === 'all' ? `${prefix}.health.>` : `${prefix}.health.${node}.>`;
  const healthSub: Subscription = nc.subscribe(healthFilter, {
    callback: (err, msg) => {
      try {
        if (err) {
          logger.error({ err }, 'health subscription error');
          return;
        }
        counters.health.received++;
        const parsed = parseHealthMessage(prefix, msg.subject, msg.data, maxEventBytes);
        if (!parsed.ok) {
          counters.health.rejected[parsed.reason]++;
          logger.warn(
            { subject: msg.subject, reason: parsed.reason, problem: parsed.error.message },
            'health event rejected',
          );
          rejected.next({
            on: 'health',
            reason: parsed.reason,
            subject: msg.subject,
            message: parsed.error.message,
          });
          return;
        }
        counters.health.accepted++;
        health.next(parsed.event);
      } catch (e) {
        logger.error({ err: e, subject: msg?.subject }, 'health event handling failed');
      }
    },
  });

  // The server must know the health subscription before createBus resolves: an event
  // published right after (by a monitor, a test) would otherwise be missed.
  await nc.flush();

  // --- commands -----------------------------------------------------------------------
  let commandSub: Subscription | undefined;
  const inflight = new Set<Promise<void>>();
  /**
   * One command, from the bus or the daemon's Unix socket: handled, counted, a refusal
   * logged, the audit record (request, reply and who sent it) queued in the outbox.
   */
  const dispatch = async (
    handlers: CommandHandlers,
    subject: string,
    data: Uint8Array,
    caller: Caller,
  ): Promise<CommandReply> => {
    counters.commands.received++;
    const id = randomUUID();
    const receivedAt = new Date().toISOString();
    const done = await handleCommand(prefix, subject, data, handlers, id, receivedAt, caller);
    const reply = done.reply;
    if (reply.ok) counters.commands.ok++;
    else {
      const code = reply.error.code;
      counters.commands.failed[code] = (counters.commands.failed[code] ?? 0) + 1;
      if (done.internal !== undefined) {
        logger.error({ err: done.internal, subject, id, caller }, 'command handler failed');
      } else {
        logger.warn({ subject, id, caller, error: reply.error }, 'command refused');
      }
      rejected.next({ on: 'command', reason: code, subject, message: reply.error.message });
    }
    const verbToken = isToken(done.verb) ? done.verb : '_invalid';
    let audit = JSON.stringify({
      id,
      node,
      verb: done.verb,
      subject,
      time: receivedAt,
      caller,
      request: done.request,
      reply,
    });
    if (audit.length > MAX_OUTBOX_MESSAGE) {
      audit = JSON.stringify({
        id,
        node,
        verb: done.verb.slice(0, 64),
        subject: subject.slice(0, 256),
        time: receivedAt,
        caller,
        request: { truncated: true, bytes: data.length },
        reply: reply.ok ? { ok: true, id } : reply,
      });
    }
    if (!state.closed) {
      outbox.enqueue(auditSubject(prefix, node, verbToken), audit, `audit-${id}`).catch(() => {});
    }
    return reply;
  };

  const serveCommands = async (handlers: CommandHandlers): Promise<CommandServer> => {
    if (state.closed) throw new BusClosedError();
    if (commandSub) throw new BusConnectionError('serveCommands was already called on this bus');
    /** Commands on `from` (a subject prefix ending in '.'), from `caller`. */
    const serve = (from: string, caller: Caller) =>
      nc.subscribe(`${from}>`, {
        queue: `ckpt-daemon-${node}`,
        callback: (err, msg) => {
          if (err) {
            logger.error({ err }, 'command subscription error');
            return;
          }
          // the scheduler's subject, seen as the command subject it sent
          const subject = commandSubject(prefix, node, msg.subject.slice(from.length));
          const work = (async () => {
            const reply = await dispatch(handlers, subject, msg.data, caller);
            try {
              msg.respond(JSON.stringify(reply));
            } catch (e) {
              logger.warn(
                { err: e, subject: msg.subject, id: reply.id },
                'command reply could not be sent',
              );
            }
          })().catch((e: unknown) =>
            logger.error({ err: e, subject: msg.subject }, 'command failed'),
          );
          inflight.add(work);
          void work.finally(() => inflight.delete(work));
        },
      });
    const sub = serve(`${prefix}.cmd.${node}.`, { via: 'bus' });
    const schedSub = serve(`${prefix}.sched.cmd.${node}.`, { via: 'bus', principal: 'scheduler' });
    commandSub = sub;
    await nc.flush();
    logger.info({ subject: commandSubject(prefix, node, '>') }, 'serving commands');
    return {
      local: (verb, data, caller) => {
        const work = dispatch(handlers, commandSubject(prefix, node, verb), data, caller);
        const settled = work.then(
          () => {},
          () => {},
        );
        inflight.add(settled);
        void settled.finally(() => inflight.delete(settled));
        return work;
      },
      stop: async () => {
        if (commandSub === sub) commandSub = undefined;
        for (const x of [sub, schedSub])
          if (!x.isClosed()) await x.drain().catch(() => x.unsubscribe());
        await Promise.allSettled([...inflight]);
      },
    };
  };

  // --- results out --------------------------------------------------------------------
  const publishResult = <K extends ResultKind, P extends ResultPhase>(
    kind: K,
    phase: P,
    payload: ResultPayload<K, P>,
  ): Promise<ResultReceipt> => {
    if (state.closed) throw new BusClosedError();
    const message = buildResult(kind, phase, node, payload);
    const subject = resultSubject(prefix, kind, node, message.job, phase);
    const acked = outbox
      .enqueue(subject, JSON.stringify(message), message.id)
      .then(() => ({ id: message.id, subject }));
    acked.catch(() => {});
    return acked;
  };

  const catalog = createCatalog(() => kv, bucket, outbox);

  const close = async (closeOpts: { timeoutMs?: number } = {}): Promise<void> => {
    if (state.closed) return;
    state.closed = true;
    const timeoutMs = closeOpts.timeoutMs ?? 5_000;
    if (commandSub && !commandSub.isClosed()) commandSub.unsubscribe();
    if (!healthSub.isClosed()) healthSub.unsubscribe();
    await Promise.allSettled([...inflight]);
    const flushed = await outbox.idle(timeoutMs);
    if (!flushed) {
      logger.error(
        { pending: outbox.pending, persisted: Boolean(opts.outboxDir) },
        opts.outboxDir
          ? 'bus closing with unacked messages; they stay in the outbox directory'
          : 'bus closing with unacked messages; they are lost (no outboxDir configured)',
      );
    }
    outbox.close();
    health.complete();
    rejected.complete();
    try {
      if (state.connected) await withTimeout(nc.drain(), timeoutMs);
    } catch {
      // fall through to close
    }
    await nc.close().catch(() => {});
    logger.info('bus closed');
  };

  return {
    node,
    prefix,
    stream,
    health$: health.asObservable(),
    rejected$: rejected.asObservable(),
    catalog,
    serveCommands,
    publishResult,
    history: (filter = {}, since) =>
      readHistory({ js, jsm, stream, prefix, filter, since, maxEventBytes }),
    status: () => ({
      connected: state.connected && !state.closed,
      closed: state.closed,
      server: nc.getServer(),
      disconnects: state.disconnects,
      reconnects: state.reconnects,
      lastChange: state.lastChange,
      counters: structuredClone(counters),
      outbox: outbox.getStats(),
    }),
    flush: (timeoutMs) => outbox.idle(timeoutMs),
    close,
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
