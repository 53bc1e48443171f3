/**
 * The outbox: messages that must not be lost (results, command audits, catalog updates)
 * are queued here and published in order, each retried until JetStream acks it. A message
 * is sent as soon as it is queued (up to WINDOW unacknowledged at a time): waiting for the
 * previous message's ack first put a JetStream round trip in front of every begin event
 * (bench/daemon-latency.ts). Acks are taken in order; when one fails, that message and every
 * later one are sent again, in order, after a backoff. Every message carries a message id
 * (Nats-Msg-Id), so a resent message the stream already holds is dropped by its duplicate
 * window instead of stored twice (plain subscribers may see it twice: ids tell).
 *
 * With `dir`, pending messages are also written to disk (one file each, removed on ack) and
 * picked up again by the next Outbox on that directory: a daemon restart or crash loses
 * nothing either. The write reaches the page cache before the message is sent; its fsync runs
 * in the background, so a result's latency is not a disk flush (a power loss in the
 * millisecond after a result can lose it; a crash of the daemon cannot).
 */
import { randomUUID } from 'node:crypto';
import {
  close,
  closeSync,
  fsync,
  mkdirSync,
  open,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { BusClosedError } from './errors.js';

export interface OutboxMessage {
  /** Message id for JetStream de-duplication. */
  id: string;
  subject: string;
  data: string;
  /** Extra headers (e.g. KV-Operation: DEL). */
  headers?: Record<string, string>;
}

export interface OutboxOptions {
  /** Publish one message; resolve when JetStream acked it, throw otherwise. */
  publish(msg: OutboxMessage): Promise<void>;
  /** Called after a failed attempt (e.g. to re-create a stream that vanished). */
  onFailure?(err: unknown, msg: OutboxMessage, attempt: number): Promise<void> | void;
  logger: Logger;
  /** Persist pending messages here (created if missing). */
  dir?: string;
  retryMinMs?: number;
  retryMaxMs?: number;
}

type Attempt = { ok: true } | { ok: false; err: unknown };

/** Unacknowledged messages on the wire at most. */
const WINDOW = 64;

interface Pending extends OutboxMessage {
  seq: number;
  file?: string;
  /** The attempt in flight, if any. */
  attempt?: Promise<Attempt>;
  resolve?: () => void;
  reject?: (err: Error) => void;
}

export interface OutboxStats {
  pending: number;
  published: number;
  failedAttempts: number;
  /** Messages recovered from `dir` at start. */
  recovered: number;
}

export class Outbox {
  private readonly queue: Pending[] = [];
  private seq = 0;
  private running = false;
  private backingOff = false;
  private inFlight = 0;
  private closed = false;
  private wake: (() => void) | undefined;
  private idleWaiters: Array<() => void> = [];
  private readonly stats = { published: 0, failedAttempts: 0, recovered: 0 };

  constructor(private readonly opts: OutboxOptions) {
    if (opts.dir) this.recover(opts.dir);
  }

  /** Queue a message; the promise resolves once it is acked (it never rejects unhandled). */
  enqueue(
    subject: string,
    data: string,
    id: string = randomUUID(),
    headers?: Record<string, string>,
  ): Promise<void> {
    if (this.closed) {
      const p = Promise.reject(new BusClosedError('the outbox is closed; nothing more is sent'));
      p.catch(() => {});
      return p;
    }
    const entry: Pending = { id, subject, data, seq: ++this.seq };
    if (headers) entry.headers = headers;
    const acked = new Promise<void>((resolve, reject) => {
      entry.resolve = resolve;
      entry.reject = reject;
    });
    acked.catch(() => {}); // callers may ignore it; close() rejects what is still pending
    this.queue.push(entry);
    // Sent now (the bytes leave in this tick's microtasks); the disk write below comes after.
    if (this.running) this.sendWindow();
    else void this.run();
    if (this.opts.dir && this.queue.includes(entry)) {
      entry.file = this.persist(this.opts.dir, entry);
    }
    return acked;
  }

  get pending(): number {
    return this.queue.length;
  }

  getStats(): OutboxStats {
    return { pending: this.queue.length, ...this.stats };
  }

  /** Resolves true when the queue is empty, false if `timeoutMs` passed first. */
  idle(timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    if (this.queue.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => {
            this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
            resolve(false);
          }, timeoutMs)
        : undefined;
      this.idleWaiters.push(done);
    });
  }

  /** Stop sending. In-memory waiters are rejected; persisted messages stay on disk. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    for (const e of this.queue) e.reject?.(new BusClosedError('the bus closed before the ack'));
  }

  /** Restart a sleeping retry at once (e.g. on reconnect). */
  nudge(): void {
    this.wake?.();
  }

  /** Start an attempt for every queued message without one, in order, within the window. */
  private sendWindow(): void {
    if (this.backingOff || this.closed) return;
    for (const e of this.queue) {
      if (this.inFlight >= WINDOW) break;
      if (e.attempt) continue;
      this.inFlight++;
      let p: Promise<void>;
      try {
        p = this.opts.publish(e);
      } catch (err) {
        p = Promise.reject(err);
      }
      e.attempt = p.then(
        (): Attempt => ({ ok: true }),
        (err: unknown): Attempt => ({ ok: false, err }),
      );
      void e.attempt.then(() => this.inFlight--);
    }
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    let attempt = 0;
    try {
      while (!this.closed && this.queue.length > 0) {
        this.sendWindow();
        const head = this.queue[0] as Pending;
        const r = await (head.attempt as Promise<Attempt>);
        if (this.closed) break;
        if (!r.ok) {
          attempt++;
          this.stats.failedAttempts++;
          if (attempt === 1 || attempt % 20 === 0) {
            this.opts.logger.warn(
              { err: r.err, subject: head.subject, attempt, pending: this.queue.length },
              'outbox: publish not acked, will retry',
            );
          }
          this.backingOff = true;
          try {
            await this.opts.onFailure?.(r.err, head, attempt);
          } catch (hookErr) {
            this.opts.logger.warn({ err: hookErr }, 'outbox: recovery hook failed');
          }
          await this.sleep(this.backoff(attempt));
          // Let what is still in flight settle, then send everything again, in order.
          await Promise.all(this.queue.map((e) => e.attempt));
          for (const e of this.queue) e.attempt = undefined;
          this.backingOff = false;
          continue;
        }
        if (attempt > 0) {
          this.opts.logger.info({ subject: head.subject, attempts: attempt + 1 }, 'outbox: acked');
        }
        attempt = 0;
        this.queue.shift();
        this.stats.published++;
        if (head.file) unlinkQuietly(head.file);
        head.resolve?.();
      }
    } finally {
      this.running = false;
      this.backingOff = false;
    }
    if (this.queue.length === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private backoff(attempt: number): number {
    const min = this.opts.retryMinMs ?? 100;
    const max = this.opts.retryMaxMs ?? 2_000;
    return Math.min(max, min * 2 ** Math.min(attempt - 1, 16));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wake = undefined;
        resolve();
      }
      this.wake = done;
    });
  }

  private persist(dir: string, e: Pending): string {
    const file = join(dir, `${String(e.seq).padStart(12, '0')}.json`);
    const tmp = `${file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(
        fd,
        JSON.stringify({ id: e.id, subject: e.subject, data: e.data, headers: e.headers }),
      );
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    open(file, 'r', (err, rfd) => {
      if (err) return; // acked and removed already
      fsync(rfd, () => close(rfd, () => {}));
    });
    return file;
  }

  private recover(dir: string): void {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const files = readdirSync(dir)
      .filter((f) => /^\d{12}\.json$/.test(f))
      .sort();
    for (const name of files) {
      const file = join(dir, name);
      const seq = Number(name.slice(0, 12));
      try {
        const m = JSON.parse(readFileSync(file, 'utf8')) as OutboxMessage;
        if (
          typeof m.id !== 'string' ||
          typeof m.subject !== 'string' ||
          typeof m.data !== 'string'
        ) {
          throw new Error('not an outbox message {id, subject, data}');
        }
        const entry: Pending = { id: m.id, subject: m.subject, data: m.data, seq, file };
        if (m.headers && typeof m.headers === 'object') entry.headers = m.headers;
        this.queue.push(entry);
        this.stats.recovered++;
      } catch (err) {
        this.opts.logger.error({ err, file }, 'outbox: unreadable pending message kept aside');
        renameSync(file, `${file}.bad`);
      }
      this.seq = Math.max(this.seq, seq);
    }
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.json.tmp'))) {
      unlinkQuietly(join(dir, f)); // written but never renamed: never acknowledged to anyone
    }
    if (this.queue.length > 0) {
      this.opts.logger.info(
        { pending: this.queue.length, dir },
        'outbox: resending pending messages',
      );
      void this.run();
    }
  }
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}
