/**
 * Domain types shared by every layer (bus -> policies -> engine).
 * Only types and tiny pure helpers live here; each layer owns its own logic.
 * The JSON Schemas in src/bus/schemas describe the wire form of these.
 */

/** FTB-style severities, lowest first. */
export const SEVERITIES = ['info', 'warning', 'error', 'fatal'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** A node-health event: CloudEvents 1.0 structured JSON with FTB-style extensions. */
export interface HealthEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string; // e.g. node.failure.imminent, node.thermal.critical
  time?: string; // RFC 3339
  severity: Severity;
  node: string; // subject-safe token
  subject?: string;
  datacontenttype?: string;
  data?: Record<string, unknown>;
}

/** Why a checkpoint or restart happened: the policy and the event or command behind it. */
export interface Trigger {
  policy: string; // policy name, or 'command' for operator commands
  kind: 'periodic' | 'adaptive' | 'automatic' | 'preemptive' | 'command' | 'resume';
  eventId?: string; // id of the health event or command that caused it
}

/** What to do with the job once its state is captured. */
export type AfterCheckpoint = 'continue' | 'stop' | 'terminate' | 'kill';

/** Arbitration order: a higher number wins. */
export const PRIORITY = {
  periodic: 1,
  adaptive: 1,
  command: 2,
  preemptive: 3,
  resume: 3,
  automatic: 4,
} as const satisfies Record<Trigger['kind'], number>;

/** A decision by a policy: checkpoint this job. */
export interface CheckpointRequest {
  job: string;
  trigger: Trigger;
  priority: number;
  after: AfterCheckpoint;
}

/** A decision to bring a job back (resume after preemption, or a restart command). */
export interface RestartRequest {
  job: string;
  trigger: Trigger;
  image?: string; // absolute path; default: the catalog's latest good image
}

export type JobState = 'running' | 'stopped' | 'checkpointing' | 'exited' | 'killed' | 'restarting';

/** A job managed by the node daemon. */
export interface JobInfo {
  id: string; // subject-safe token
  node: string;
  pid: number;
  /** From /proc at attach; groups: the supplementary groups then (sorted). */
  owner: { uid: number; gid: number; groups?: number[]; user?: string };
  command?: string[];
  cwd?: string;
  state: JobState;
  registeredAt: string;
  exitStatus?: number;
  lastImage?: ImageRecord;
}

/** A durable checkpoint image, as recorded in the catalog. */
export interface ImageRecord {
  job: string;
  node: string;
  path: string; // absolute
  bytes: number;
  crc32c: number; // of the whole file
  time: string; // RFC 3339, when it became durable
  durationMs: number;
  frozenMs: number;
  trigger: Trigger;
}

/** Outcome of one checkpoint, as measured by the engine. */
export interface CheckpointOutcome {
  job: string;
  pid: number;
  image: string;
  bytes: number;
  durationMs: number;
  frozenMs: number;
  crc32c: number;
}

/** Subject-safe token: what node names and job ids may be. */
export const TOKEN_RE = /^[A-Za-z0-9_-]{1,64}$/;
export function isToken(s: unknown): s is string {
  return typeof s === 'string' && TOKEN_RE.test(s);
}
