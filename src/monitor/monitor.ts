/**
 * The monitor loop: sample the sources every interval, evaluate (decide.ts, pure),
 * publish one health event per finding. Publishing goes through a callback so
 * this layer knows nothing of NATS. In runMonitor a failed read or publish is
 * reported through onError and the loop goes on: a flaky sensor must not stop it.
 */
import type { HealthEvent } from '../shared/types.js';
import type { Finding, MonitorState, Thresholds } from './decide.js';
import { evaluate, initialState, validateThresholds } from './decide.js';
import { MonitorConfigError } from './errors.js';
import { findingToEvent, MONITOR_SOURCE } from './events.js';
import type { Sample } from './readings.js';
import { readSample } from './readings.js';

export interface MonitorOptions {
  root: string; // '/' on a real node
  node: string;
  source?: string;
  intervalMs: number;
  thresholds: Thresholds;
  publish(event: HealthEvent): Promise<void>;
  onSample?(sample: Sample, findings: Finding[]): void;
}

export interface Monitor {
  /** Sample and publish once (the loop calls this; tests and --once too). */
  tick(): Promise<Finding[]>;
  readonly state: MonitorState;
}

export function createMonitor(opts: MonitorOptions): Monitor {
  if (!(opts.intervalMs >= 10)) {
    throw new MonitorConfigError(`interval must be at least 10 ms, got ${opts.intervalMs}`);
  }
  validateThresholds(opts.thresholds);
  let state = initialState();

  async function tick(): Promise<Finding[]> {
    const sample = await readSample(opts.root);
    const result = evaluate(state, sample, opts.thresholds);
    state = result.state;
    opts.onSample?.(sample, result.findings);
    for (const finding of result.findings) {
      await opts.publish(findingToEvent(finding, opts.node, opts.source ?? MONITOR_SOURCE));
    }
    return result.findings;
  }

  return {
    tick,
    get state() {
      return state;
    },
  };
}

/**
 * Tick every interval until the signal aborts (the caller usually ticks once
 * itself first, to fail fast and to know the baseline is taken). Errors of a
 * tick go to onError and the loop goes on.
 */
export async function runMonitor(
  monitor: Monitor,
  intervalMs: number,
  signal: AbortSignal,
  onError: (err: unknown) => void,
): Promise<void> {
  while (!signal.aborted) {
    await sleep(intervalMs, signal);
    if (signal.aborted) break;
    try {
      await monitor.tick();
    } catch (err) {
      onError(err);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
