/**
 * The daemon's Prometheus metrics, in a registry of their own (never prom-client's
 * global one, so tests and several daemons in one process do not collide).
 * The daemon calls the small hooks below; nothing here knows about the engine.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Severity, Trigger } from '../shared/types.js';

export type OperationResult = 'ok' | 'error' | 'timeout' | 'cancelled';
export type TriggerKind = Trigger['kind'];

export interface CheckpointObservation {
  result: OperationResult;
  trigger: TriggerKind;
  bytes?: number;
  durationMs?: number;
  frozenMs?: number;
}

export interface RestartObservation {
  result: OperationResult;
  trigger: TriggerKind;
  bytes?: number;
  durationMs?: number;
}

export interface CkptMetrics {
  readonly registry: Registry;
  checkpointDone(o: CheckpointObservation): void;
  restartDone(o: RestartObservation): void;
  eventReceived(e: { severity: Severity | string; source?: string }): void;
  eventRejected(reason: string): void;
  setQueueDepth(n: number): void;
  setJobs(n: number): void;
}

// 1 ms .. ~65 s for durations; freezes are shorter
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const FREEZE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

export function createMetrics(options: { defaultMetrics?: boolean } = {}): CkptMetrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'ckpt_' });
  const registers = [registry];

  const checkpoints = new Counter({
    name: 'ckpt_checkpoints_total',
    help: 'Checkpoints attempted, by result and trigger kind',
    labelNames: ['result', 'trigger'] as const,
    registers,
  });
  const restarts = new Counter({
    name: 'ckpt_restarts_total',
    help: 'Restarts attempted, by result and trigger kind',
    labelNames: ['result', 'trigger'] as const,
    registers,
  });
  const bytes = new Counter({
    name: 'ckpt_checkpoint_bytes_total',
    help: 'Bytes of checkpoint images written successfully',
    labelNames: ['trigger'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'ckpt_checkpoint_duration_seconds',
    help: 'Wall time of successful checkpoints',
    labelNames: ['trigger'] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  const freeze = new Histogram({
    name: 'ckpt_checkpoint_freeze_seconds',
    help: 'Time the target was frozen during successful checkpoints',
    labelNames: ['trigger'] as const,
    buckets: FREEZE_BUCKETS,
    registers,
  });
  const restartDuration = new Histogram({
    name: 'ckpt_restart_duration_seconds',
    help: 'Wall time of successful restarts',
    labelNames: ['trigger'] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  const eventsReceived = new Counter({
    name: 'ckpt_events_received_total',
    help: 'Health events received and accepted, by severity',
    labelNames: ['severity'] as const,
    registers,
  });
  const eventsRejected = new Counter({
    name: 'ckpt_events_rejected_total',
    help: 'Inbound messages rejected, by reason',
    labelNames: ['reason'] as const,
    registers,
  });
  const queueDepth = new Gauge({
    name: 'ckpt_queue_depth',
    help: 'Checkpoint/restart requests waiting in the executor queue',
    registers,
  });
  const jobs = new Gauge({ name: 'ckpt_jobs', help: 'Jobs the daemon manages', registers });

  const nonNegative = (n: number | undefined): n is number =>
    typeof n === 'number' && Number.isFinite(n) && n >= 0;

  return {
    registry,
    checkpointDone(o) {
      checkpoints.inc({ result: o.result, trigger: o.trigger });
      if (o.result !== 'ok') return;
      if (nonNegative(o.bytes)) bytes.inc({ trigger: o.trigger }, o.bytes);
      if (nonNegative(o.durationMs)) duration.observe({ trigger: o.trigger }, o.durationMs / 1000);
      if (nonNegative(o.frozenMs)) freeze.observe({ trigger: o.trigger }, o.frozenMs / 1000);
    },
    restartDone(o) {
      restarts.inc({ result: o.result, trigger: o.trigger });
      if (o.result === 'ok' && nonNegative(o.durationMs)) {
        restartDuration.observe({ trigger: o.trigger }, o.durationMs / 1000);
      }
    },
    eventReceived(e) {
      eventsReceived.inc({ severity: String(e.severity) });
    },
    eventRejected(reason) {
      eventsRejected.inc({ reason });
    },
    setQueueDepth(n) {
      queueDepth.set(nonNegative(n) ? n : 0);
    },
    setJobs(n) {
      jobs.set(nonNegative(n) ? n : 0);
    },
  };
}
