/**
 * Result messages (BLCR's CHKPT/RSTRT BEGIN/END/ERROR) as the bus publishes them on
 * `<prefix>.ckpt|rstrt.<node>.<job>.begin|end|error`. The caller gives the facts; the bus
 * adds id, kind, phase, node and time, and validates the whole message against its schema.
 */
import { randomUUID } from 'node:crypto';
import type { AfterCheckpoint, Trigger } from '../shared/types.js';
import type { ResultKind, ResultPhase } from './subjects.js';
import { assertValid, type SchemaName } from './validate.js';

interface ResultBase {
  job: string;
  /** PID of the job's process (0 if not known, e.g. a restart that failed early). */
  pid: number;
  trigger: Trigger;
  /** RFC 3339; default now. */
  time?: string;
  /** Message id (also the JetStream de-duplication id); default a random UUID. */
  id?: string;
}

export interface BeginPayload extends ResultBase {
  image?: string;
  after?: AfterCheckpoint;
}

export interface CkptEndPayload extends ResultBase {
  image: string;
  bytes: number;
  duration_ms: number;
  frozen_ms: number;
  crc32c?: number;
  after?: AfterCheckpoint;
}

export interface RstrtEndPayload extends ResultBase {
  image: string;
  duration_ms: number;
  bytes?: number;
  frozen_ms?: number;
}

export interface ErrorPayload extends ResultBase {
  /** UPPER_SNAKE_CASE, e.g. ENGINE, TIMEOUT, EPERM. */
  code: string;
  message: string;
  errno?: number;
  image?: string;
}

export type ResultPayload<K extends ResultKind, P extends ResultPhase> = P extends 'begin'
  ? BeginPayload
  : P extends 'error'
    ? ErrorPayload
    : K extends 'ckpt'
      ? CkptEndPayload
      : RstrtEndPayload;

/** The full message as published (and as a subscriber or history() reads it). */
export type ResultMessage = (BeginPayload | CkptEndPayload | RstrtEndPayload | ErrorPayload) & {
  id: string;
  kind: ResultKind;
  phase: ResultPhase;
  node: string;
  time: string;
};

export function resultSchema(kind: ResultKind, phase: ResultPhase): SchemaName {
  if (phase === 'begin') return 'result-begin';
  if (phase === 'error') return 'result-error';
  return kind === 'ckpt' ? 'ckpt-end' : 'rstrt-end';
}

/** Complete and validate a result; throws BusValidationError naming the bad field. */
export function buildResult(
  kind: ResultKind,
  phase: ResultPhase,
  node: string,
  payload: BeginPayload | CkptEndPayload | RstrtEndPayload | ErrorPayload,
): ResultMessage {
  const message = {
    ...payload,
    id: payload.id ?? randomUUID(),
    kind,
    phase,
    node,
    time: payload.time ?? new Date().toISOString(),
  } as ResultMessage;
  assertValid(resultSchema(kind, phase), message);
  return message;
}
