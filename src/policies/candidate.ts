/** What policy operators emit before arbitration, and what they share. */
import type { Observable, SchedulerLike } from 'rxjs';
import type { HealthEvent } from '../shared/types.js';
import {
  type AfterCheckpoint,
  type CheckpointRequest,
  PRIORITY,
  type RestartRequest,
  type Trigger,
} from '../shared/types.js';
import type { CheckpointOutcomeEvent, JobSnapshot, PolicyCommand } from './types.js';

/** A policy's wish, before arbitration against the other policies. */
export type Candidate =
  | { kind: 'checkpoint'; request: CheckpointRequest; cooldownMs: number }
  | { kind: 'resume'; request: RestartRequest };

/** The streams and settings every policy operator reads. */
export interface PolicyContext {
  health$: Observable<HealthEvent>;
  commands$: Observable<PolicyCommand>;
  jobs$: Observable<JobSnapshot[]>;
  outcomes$: Observable<CheckpointOutcomeEvent>;
  node: string;
  scheduler: SchedulerLike;
}

export function checkpointCandidate(
  job: string,
  trigger: Trigger,
  after: AfterCheckpoint,
  cooldownMs: number,
): Candidate {
  return {
    kind: 'checkpoint',
    request: { job, trigger, priority: PRIORITY[trigger.kind], after },
    cooldownMs,
  };
}

/** Strength of what happens after a checkpoint: kill > terminate > stop > continue. */
export const AFTER_RANK: Record<AfterCheckpoint, number> = {
  continue: 0,
  stop: 1,
  terminate: 2,
  kill: 3,
};

export function strongerAfter(a: AfterCheckpoint, b: AfterCheckpoint): AfterCheckpoint {
  return AFTER_RANK[b] > AFTER_RANK[a] ? b : a;
}
