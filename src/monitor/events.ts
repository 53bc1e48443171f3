/** Turning the monitor's findings into CloudEvents health events (docs/bus.md). */
import { randomUUID } from 'node:crypto';
import type { HealthEvent } from '../shared/types.js';
import type { Finding } from './decide.js';

export const MONITOR_SOURCE = 'ckpt-monitor';

export function findingToEvent(
  finding: Finding,
  node: string,
  source: string = MONITOR_SOURCE,
  time: Date = new Date(),
): HealthEvent {
  return {
    specversion: '1.0',
    id: randomUUID(),
    source,
    type: finding.type,
    time: time.toISOString(),
    severity: finding.severity,
    node,
    subject: finding.key,
    datacontenttype: 'application/json',
    data: { ...finding.data, message: finding.message },
  };
}
