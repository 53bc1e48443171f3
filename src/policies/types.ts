/**
 * The types of the policy layer: what the engine/daemon feeds in (PolicyInputs), what comes
 * out (PolicyDecision), and the validated policy definitions a PolicySet holds.
 * Only types and constants live here; see docs/policies.md for the semantics.
 */
import type { Observable, SchedulerLike } from 'rxjs';
import type {
  AfterCheckpoint,
  CheckpointRequest,
  HealthEvent,
  JobState,
  RestartRequest,
  Severity,
  Trigger,
} from '../shared/types.js';

// ---------------------------------------------------------------------------------------------
// Inputs and outputs of createPolicyEngine
// ---------------------------------------------------------------------------------------------

/** An operator or scheduler command, already validated by the bus. */
export interface PolicyCommand {
  verb: 'checkpoint' | 'preempt' | 'resume';
  job: string;
  /** Id of the command message; becomes Trigger.eventId. */
  id: string;
  /** checkpoint: default 'continue'; preempt: default the preemptive policy's `after`. */
  after?: AfterCheckpoint;
}

/** One job of this node as the engine sees it now. */
export interface JobSnapshot {
  id: string;
  state: JobState;
}

/** One finished checkpoint (ok or not), as reported by the engine's executor. */
export interface CheckpointOutcomeEvent {
  job: string;
  durationMs: number;
  ok: boolean;
  trigger: Trigger;
}

export interface PolicyInputs {
  /** Health events (any node; policies filter by node). */
  health$: Observable<HealthEvent>;
  commands$: Observable<PolicyCommand>;
  /** The current jobs of this node, emitted again on every change (like a BehaviorSubject). */
  jobs$: Observable<JobSnapshot[]>;
  /** Every finished checkpoint of this node's jobs. */
  outcomes$: Observable<CheckpointOutcomeEvent>;
}

export interface PolicyEngineOptions {
  /** This node's name (HealthEvent.node of events about this node). */
  node: string;
  /** Time source for every timer and window; default asyncScheduler. Tests pass a TestScheduler. */
  scheduler?: SchedulerLike;
  /** Requests for one job within this many ms collapse into one decision. Default 100. */
  collapseWindowMs?: number;
}

/** What the engine must do. A checkpoint request already won arbitration for its job. */
export type PolicyDecision =
  | { kind: 'checkpoint'; request: CheckpointRequest }
  | { kind: 'resume'; request: RestartRequest };

// ---------------------------------------------------------------------------------------------
// Policy definitions (the validated form of a policy file)
// ---------------------------------------------------------------------------------------------

/** Which jobs a policy applies to: a glob over job ids, or a list of ids. */
export type JobSelector = { glob: string } | { ids: string[] };

interface PolicyBase {
  /** Unique in a PolicySet; appears as Trigger.policy. */
  name: string;
  jobs: JobSelector;
  /** What the job does after the checkpoint. */
  after: AfterCheckpoint;
  /** A request of this policy is skipped if the job had a checkpoint of at least the same
   * priority less than cooldownMs ago (and the new request asks nothing stronger). */
  cooldownMs: number;
  /** Where it came from, for messages: "file.yaml policies[2]" or "default". */
  origin: string;
  /** Free text from the policy file. */
  description?: string;
}

export interface PeriodicPolicy extends PolicyBase {
  kind: 'periodic';
  intervalMs: number;
  /** 'job': one timer per job, started when the job appears; 'policy': one timer, all jobs. */
  scope: 'job' | 'policy';
}

export interface MtbfSpec {
  /** The configured MTBF; used alone when windowMs is absent, else as the prior. */
  priorMs: number;
  /** Count failure events over this sliding window to estimate the MTBF. */
  windowMs?: number;
  /** Health events of this node with at least this severity are failures. */
  severity: Severity;
  /** Glob over HealthEvent.type of the events counted as failures. */
  types: string;
}

export interface AdaptivePolicy extends PolicyBase {
  kind: 'adaptive';
  formula: 'daly' | 'young';
  initialIntervalMs: number;
  minIntervalMs: number;
  maxIntervalMs: number;
  /** How many recent successful checkpoints of the job make the cost estimate. */
  costSamples: number;
  mtbf: MtbfSpec;
}

export type Comparison = '>' | '>=' | '<' | '<=' | '==' | '!=';

/** A condition on HealthEvent.data: the value at `path` (dot-separated) compared to `value`. */
export interface DataCondition {
  path: string;
  op: Comparison;
  value: number | string | boolean;
}

export interface AutomaticRule {
  /** Glob over HealthEvent.type, e.g. node.failure.* */
  type: string;
  /** Minimum severity. */
  severity: Severity;
  /** Glob over HealthEvent.node; undefined = this node only. */
  node?: string;
  where: DataCondition[];
  /** Fire when `count` matching events fall within `withinMs` (count 1: every event). */
  count: number;
  withinMs: number;
  /** 'node': every selected job of this node; 'event': the job named in event.data.job. */
  target: 'node' | 'event';
}

export interface AutomaticPolicy extends PolicyBase {
  kind: 'automatic';
  rules: AutomaticRule[];
}

export interface PreemptivePolicy extends PolicyBase {
  kind: 'preemptive';
}

export type Policy = PeriodicPolicy | AdaptivePolicy | AutomaticPolicy | PreemptivePolicy;
export type PolicyKind = Policy['kind'];
export const POLICY_KINDS = ['periodic', 'adaptive', 'automatic', 'preemptive'] as const;

/** Validated policies from one or more files (or the default set). */
export interface PolicySet {
  policies: Policy[];
  /** The files they came from, in load order (empty for the default set). */
  files: string[];
}
