/**
 * Errors of the bus layer. Every class extends BusError (which extends Error), sets `name`,
 * keeps `cause` and carries a machine-readable `code`.
 *
 * Command replies use a closed set of codes (COMMAND_ERROR_CODES, documented in docs/bus.md);
 * a handler that throws a CommandError chooses the code of its reply.
 */

/** The closed set of error codes a command reply may carry. */
export const COMMAND_ERROR_CODES = [
  'BAD_JSON', // the request body is not JSON (or not a JSON object)
  'BAD_REQUEST', // the body violates the verb's schema
  'BAD_TOKEN', // a node or job name is not a subject-safe token
  'UNKNOWN_VERB', // no such verb
  'UNKNOWN_JOB', // the job is not registered with this daemon
  'JOB_EXISTS', // attach: the job id is already registered
  'BUSY', // the job is already being checkpointed/restarted, or the daemon is saturated
  'FORBIDDEN', // the requester may not act on this job/process
  'ENGINE', // the checkpoint/restart engine failed
  'UNAVAILABLE', // the daemon has no handler for this verb (yet) or is shutting down
  'INTERNAL', // a bug: anything else a handler threw
] as const;
export type CommandErrorCode = (typeof COMMAND_ERROR_CODES)[number];

export function isCommandErrorCode(code: unknown): code is CommandErrorCode {
  return typeof code === 'string' && (COMMAND_ERROR_CODES as readonly string[]).includes(code);
}

export class BusError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BusError';
    this.code = code;
  }
}

/** The local nats-server could not be started, or died. */
export class NatsServerError extends BusError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NATS_SERVER', message, options);
    this.name = 'NatsServerError';
  }
}

/** Connecting to NATS, creating the stream or the KV bucket failed. */
export class BusConnectionError extends BusError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONNECT', message, options);
    this.name = 'BusConnectionError';
  }
}

/** A message failed validation: which field, what it held, what was expected. */
export class BusValidationError extends BusError {
  readonly path: string;
  readonly value: unknown;
  readonly expected: string;
  constructor(
    code: 'BAD_JSON' | 'BAD_REQUEST' | 'BAD_TOKEN' | 'NODE_MISMATCH' | 'UNKNOWN_VERB',
    path: string,
    value: unknown,
    expected: string,
    options?: { cause?: unknown },
  ) {
    super(code, `${path || '(body)'}: got ${showValue(value)}; expected ${expected}`, options);
    this.name = 'BusValidationError';
    this.path = path;
    this.value = value;
    this.expected = expected;
  }
}

/**
 * Thrown by a command handler (or by the bus) to produce an error reply with this code.
 * Anything else a handler throws becomes INTERNAL unless it carries a known `code`.
 */
export class CommandError extends BusError {
  constructor(code: CommandErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'CommandError';
  }
}

/**
 * A request from the client side failed: NO_RESPONDERS (no daemon for that node), TIMEOUT,
 * BAD_REPLY (the reply was not JSON), or the daemon's own error code (remote = true).
 */
export class BusRequestError extends BusError {
  readonly remote: boolean;
  constructor(code: string, message: string, remote: boolean, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'BusRequestError';
    this.remote = remote;
  }
}

/** A catalog (KV) operation failed or was given a bad key/record. */
export class CatalogError extends BusError {
  constructor(
    code: 'BAD_TOKEN' | 'BAD_RECORD' | 'KV',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'CatalogError';
  }
}

/** The bus was closed while an operation was pending. */
export class BusClosedError extends BusError {
  constructor(message = 'the bus is closed') {
    super('CLOSED', message);
    this.name = 'BusClosedError';
  }
}

/** Short, single-line rendering of a bad value for error messages. */
export function showValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text =
      typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
