/**
 * The JetStream history stream (default FT_HISTORY): health events, results and command
 * audits, so a restarted daemon or an auditor can replay what happened.
 *
 * It captures `<prefix>.health.>`, `<prefix>.ckpt.>`, `<prefix>.rstrt.>` and
 * `<prefix>.audit.>`, never `<prefix>.cmd.>`: a stream on the command subjects would send
 * its PubAck to the requester's reply inbox, racing the daemon's reply. Commands are recorded
 * by the daemon republishing each one with its reply on `<prefix>.audit.cmd.<node>.<verb>`.
 *
 * Replay uses one ephemeral consumer with one filter subject (nats-server 2.9 has no
 * multi-filter consumers) and filters the rest on the client.
 */
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { isToken } from '../shared/types.js';
import { BusConnectionError, BusValidationError } from './errors.js';
import { type HealthRejectReason, parseHealthMessage } from './health.js';
import { historySubjects, type ParsedSubject, parseSubject, TOKEN_EXPECTED } from './subjects.js';

export interface HistoryOptions {
  /** Stream name; default derived from the prefix (ft -> FT_HISTORY). */
  stream?: string;
  /** Drop entries older than this (default 30 days). 0 = keep forever. */
  maxAgeMs?: number;
  /** Cap the stream's size (default 1 GiB). -1 = unlimited. */
  maxBytes?: number;
  /** JetStream de-duplication window for outbox retries (default 2 min). */
  duplicateWindowMs?: number;
  storage?: 'file' | 'memory';
}

export const HISTORY_DEFAULTS = {
  maxAgeMs: 30 * 24 * 3600 * 1000,
  maxBytes: 1024 ** 3,
  duplicateWindowMs: 120_000,
} as const;

export type HistoryKind = 'health' | 'ckpt' | 'rstrt' | 'audit';

export interface HistoryFilter {
  kinds?: HistoryKind[];
  node?: string;
  job?: string;
}

export interface HistoryEntry {
  seq: number;
  subject: string;
  /** When the stream stored it (RFC 3339). */
  time: string;
  kind: HistoryKind;
  node: string;
  job?: string;
  phase?: string;
  verb?: string;
  source?: string;
  /** The parsed JSON body; undefined if it was not JSON (see raw). */
  data: unknown;
  /** The body as text when it was not JSON. */
  raw?: string;
  /** For health entries: whether the event passed validation (invalid ones are kept too). */
  valid?: boolean;
  rejected?: HealthRejectReason;
}

/** The smallest cap the automatic sizing goes down to before it gives up. */
export const HISTORY_AUTO_MIN_BYTES = 16 * 1024 ** 2;

function insufficientStorage(err: unknown): boolean {
  // JetStream API error 10047 ("insufficient storage resources available"): the server
  // reserves a stream's max_bytes up front against its max_file_store (by default 75% of
  // the free space where its store lives).
  const e = err as { api_error?: { err_code?: number }; message?: string };
  return e?.api_error?.err_code === 10047 || /insufficient storage/i.test(String(e?.message));
}

/**
 * Create the stream, or bring an existing one's subjects and limits to what is configured.
 * Without an explicit maxBytes the cap is automatic: HISTORY_DEFAULTS.maxBytes, halved while
 * the server cannot reserve it (a small disk, a tmpfs), down to HISTORY_AUTO_MIN_BYTES, with
 * a warning naming the cap taken. An explicit cap the server cannot reserve is an error that
 * says so.
 */
export async function ensureHistoryStream(
  jsm: JetStreamManager,
  prefix: string,
  stream: string,
  opts: HistoryOptions,
  logger: Logger,
): Promise<void> {
  const auto = opts.maxBytes === undefined;
  let maxBytes = opts.maxBytes ?? HISTORY_DEFAULTS.maxBytes;
  for (;;) {
    try {
      await ensureStreamWith(jsm, prefix, stream, { ...opts, maxBytes }, logger);
      if (auto && maxBytes < HISTORY_DEFAULTS.maxBytes) {
        logger.warn(
          { stream, maxBytes, wanted: HISTORY_DEFAULTS.maxBytes },
          `history stream ${stream} capped at ${maxBytes} bytes: the NATS server cannot ` +
            `reserve ${HISTORY_DEFAULTS.maxBytes} (its max_file_store or free disk is smaller); ` +
            'older entries go first once it is full',
        );
      }
      return;
    } catch (err) {
      if (auto && insufficientStorage(err) && maxBytes / 2 >= HISTORY_AUTO_MIN_BYTES) {
        maxBytes = Math.floor(maxBytes / 2);
        continue;
      }
      const why = insufficientStorage(err)
        ? `the NATS server cannot reserve ${maxBytes} bytes for it (its max_file_store or ` +
          'the free disk where its store lives is smaller): give it more storage or set a ' +
          'smaller history cap (bus.historyMaxBytes, --history-max-bytes)'
        : (err as Error).message;
      throw new BusConnectionError(`cannot create or update the history stream ${stream}: ${why}`, {
        cause: err,
      });
    }
  }
}

async function ensureStreamWith(
  jsm: JetStreamManager,
  prefix: string,
  stream: string,
  opts: HistoryOptions & { maxBytes: number },
  logger: Logger,
): Promise<void> {
  const wanted: Partial<StreamConfig> & { name: string } = {
    name: stream,
    subjects: historySubjects(prefix),
    storage: opts.storage === 'memory' ? StorageType.Memory : StorageType.File,
    max_age: nanos(opts.maxAgeMs ?? HISTORY_DEFAULTS.maxAgeMs),
    max_bytes: opts.maxBytes,
    duplicate_window: nanos(opts.duplicateWindowMs ?? HISTORY_DEFAULTS.duplicateWindowMs),
  };
  const info = await jsm.streams.info(stream).catch((err: unknown) => {
    if (/stream not found/i.test(String((err as Error).message))) return undefined;
    throw err;
  });
  if (!info) {
    try {
      await jsm.streams.add(wanted);
      logger.info(
        { stream, subjects: wanted.subjects, maxBytes: wanted.max_bytes },
        'history stream created',
      );
      return;
    } catch (err) {
      // Another daemon may have created it in the meantime; fall through to compare.
      if (!/already in use/i.test(String((err as Error).message))) throw err;
    }
  }
  const current = info ?? (await jsm.streams.info(stream));
  const c = current.config;
  const same =
    JSON.stringify([...(c.subjects ?? [])].sort()) ===
      JSON.stringify([...(wanted.subjects ?? [])].sort()) &&
    c.max_age === wanted.max_age &&
    c.max_bytes === wanted.max_bytes &&
    c.duplicate_window === wanted.duplicate_window;
  if (!same) {
    const { name: _name, storage: _storage, ...update } = wanted;
    await jsm.streams.update(stream, { ...c, ...update });
    logger.info({ stream, maxBytes: wanted.max_bytes }, 'history stream configuration updated');
  }
}

/** The single server-side filter subject for a history filter (2.9: one filter only). */
export function serverFilter(prefix: string, filter: HistoryFilter): string {
  const kinds = filter.kinds ?? [];
  if (kinds.length !== 1) return `${prefix}.>`;
  const kind = kinds[0] as HistoryKind;
  const node = filter.node ?? '*';
  if (kind === 'audit') return `${prefix}.audit.cmd.${node}.*`;
  if (kind === 'health') return `${prefix}.health.${node}.*`;
  return `${prefix}.${kind}.${node}.${filter.job ?? '*'}.*`;
}

export function checkHistoryFilter(filter: HistoryFilter): void {
  const kinds: HistoryKind[] = ['health', 'ckpt', 'rstrt', 'audit'];
  for (const [i, k] of (filter.kinds ?? []).entries()) {
    if (!kinds.includes(k)) {
      throw new BusValidationError('BAD_REQUEST', `kinds[${i}]`, k, `one of ${kinds.join(', ')}`);
    }
  }
  if (filter.node !== undefined && !isToken(filter.node)) {
    throw new BusValidationError('BAD_TOKEN', 'node', filter.node, TOKEN_EXPECTED);
  }
  if (filter.job !== undefined && !isToken(filter.job)) {
    throw new BusValidationError('BAD_TOKEN', 'job', filter.job, TOKEN_EXPECTED);
  }
}

function matches(
  p: ParsedSubject,
  filter: HistoryFilter,
): p is Exclude<ParsedSubject, { kind: 'cmd' }> {
  if (p.kind === 'cmd') return false;
  if (filter.kinds?.length && !filter.kinds.includes(p.kind)) return false;
  if (filter.node !== undefined && p.node !== filter.node) return false;
  if (filter.job !== undefined) {
    if (p.kind !== 'ckpt' && p.kind !== 'rstrt') return false;
    if (p.job !== filter.job) return false;
  }
  return true;
}

export interface ReadHistoryOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  prefix: string;
  filter: HistoryFilter;
  /** Start here: a time, or a stream sequence number; default: the beginning. */
  since?: Date | string | number;
  maxEventBytes: number;
  batch?: number;
}

/**
 * Everything stored up to now that matches the filter, oldest first, then done
 * (it does not wait for new messages).
 */
export async function* readHistory(o: ReadHistoryOptions): AsyncGenerator<HistoryEntry> {
  checkHistoryFilter(o.filter);
  const start: Record<string, unknown> = { deliver_policy: DeliverPolicy.All };
  if (typeof o.since === 'number') {
    Object.assign(start, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: o.since });
  } else if (o.since !== undefined) {
    const t = new Date(o.since);
    if (Number.isNaN(t.getTime())) {
      throw new BusValidationError('BAD_REQUEST', 'since', o.since, 'a date or a sequence number');
    }
    Object.assign(start, {
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: t.toISOString(),
    });
  }
  const info = await o.jsm.consumers.add(o.stream, {
    ...start,
    ack_policy: AckPolicy.None,
    filter_subject: serverFilter(o.prefix, o.filter),
    inactive_threshold: nanos(60_000),
  });
  try {
    let remaining = info.num_pending;
    if (remaining === 0) return;
    const consumer = await o.js.consumers.get(o.stream, info.name);
    while (remaining > 0) {
      const batch = await consumer.fetch({
        max_messages: Math.min(o.batch ?? 256, remaining),
        expires: 5_000,
      });
      let got = 0;
      for await (const m of batch) {
        got++;
        remaining = m.info.pending;
        const parsed = parseSubject(o.prefix, m.subject);
        if (!parsed || !matches(parsed, o.filter)) {
          if (remaining === 0) break;
          continue;
        }
        const text = m.string();
        let data: unknown;
        let raw: string | undefined;
        try {
          data = JSON.parse(text);
        } catch {
          raw = text;
        }
        const entry: HistoryEntry = {
          seq: m.seq,
          subject: m.subject,
          time: new Date(Math.floor(m.info.timestampNanos / 1e6)).toISOString(),
          kind: parsed.kind,
          node: parsed.node,
          data,
        };
        if (raw !== undefined) entry.raw = raw;
        if (parsed.kind === 'health') {
          entry.source = parsed.source;
          const check = parseHealthMessage(o.prefix, m.subject, m.data, o.maxEventBytes);
          entry.valid = check.ok;
          if (!check.ok) entry.rejected = check.reason;
        } else if (parsed.kind === 'audit') {
          entry.verb = parsed.verb;
        } else {
          entry.job = parsed.job;
          entry.phase = parsed.phase;
        }
        yield entry;
        if (remaining === 0) break;
      }
      if (got === 0) break; // nothing came within `expires`: the stream shrank under us
    }
  } finally {
    await o.jsm.consumers.delete(o.stream, info.name).catch(() => {});
  }
}
