/**
 * Command handling: a request on `<prefix>.cmd.<node>.<verb>` is checked (verb, JSON,
 * schema, tokens), handed to the daemon's handler for that verb, and answered with
 * `{ok:true, id, ...result}` or `{ok:false, id, error:{code, message, path?, value?, expected?}}`.
 * Nothing a requester sends, and nothing a handler throws, escapes as an exception.
 */
import type { AfterCheckpoint } from '../shared/types.js';
import { parseBoundedJson } from './bounded-json.js';
import {
  BusValidationError,
  COMMAND_ERROR_CODES,
  type CommandErrorCode,
  isCommandErrorCode,
  showValue,
} from './errors.js';
import { tokensAfterPrefix } from './subjects.js';
import { check, commandSchema, isVerb, VERBS, type Verb } from './validate.js';

/** Request bodies per verb, as their schemas (src/bus/schemas/command-*.json) allow. */
export interface CommandBodies {
  status: Record<string, never>;
  jobs: { job?: string };
  checkpoint: { job: string; after?: AfterCheckpoint; timeoutMs?: number };
  restart: { job: string; image?: string; restorePid?: boolean; after?: 'continue' | 'stop' };
  preempt: { job: string; after?: 'stop' | 'terminate' | 'kill' };
  resume: { job: string };
  attach: {
    job: string;
    pid: number;
    owner?: { uid: number; gid: number; user?: string };
    command?: string[];
    cwd?: string;
  };
  detach: { job: string };
}

/**
 * Who sent a command, as far as the daemon can know it: a bus principal, or a local user on
 * the daemon's Unix socket with the ids the kernel vouches for (SO_PEERCRED,
 * SO_PEERGROUPS), never ids the request declares. NATS does not name a message's sender:
 * the scheduler is known by the subject its commands arrive on (<prefix>.sched.cmd.>,
 * reachable only through the scheduler account's service import: docs/security.md); a
 * command on <prefix>.cmd.> comes from a principal the server lets publish there (on the
 * daemon's own server: ckpt-admin, root's CLI).
 */
export type Caller =
  | { via: 'bus'; principal?: 'scheduler' }
  | { via: 'socket'; pid: number; uid: number; gid: number; groups: number[] };

export interface CommandMeta {
  /** Unique id of this command: use it as trigger.eventId. */
  id: string;
  verb: Verb;
  subject: string;
  receivedAt: string;
  caller: Caller;
}

export type CommandHandler<V extends Verb> = (
  body: CommandBodies[V],
  meta: CommandMeta,
) => Promise<object>;

export type CommandHandlers = { [V in Verb]?: CommandHandler<V> };

export interface CommandErrorBody {
  code: CommandErrorCode;
  message: string;
  path?: string;
  value?: unknown;
  expected?: string;
}

export type CommandReply =
  | ({ ok: true; id: string } & Record<string, unknown>)
  | { ok: false; id: string; error: CommandErrorBody };

export interface HandledCommand {
  verb: string;
  /** The parsed request, or {raw} when it was not JSON (for the audit record). */
  request: unknown;
  reply: CommandReply;
  /** Set when a handler threw something without a known code (a bug to log). */
  internal?: unknown;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

export async function handleCommand(
  prefix: string,
  subject: string,
  data: Uint8Array,
  handlers: CommandHandlers,
  id: string,
  receivedAt: string,
  caller: Caller = { via: 'bus' },
): Promise<HandledCommand> {
  const t = tokensAfterPrefix(prefix, subject) ?? [];
  const verb = t.slice(2).join('.');
  const fail = (error: CommandErrorBody, request: unknown, internal?: unknown): HandledCommand => ({
    verb,
    request,
    reply: { ok: false, id, error },
    ...(internal === undefined ? {} : { internal }),
  });

  let request: unknown;
  const text = decodeText(data);
  if (text === undefined || text.trim() === '') {
    request = text === undefined ? { raw: rawPreview(data) } : {};
  } else {
    try {
      request = parseBoundedJson(text, data.length);
    } catch (err) {
      if (!(err instanceof BusValidationError)) throw err;
      return fail(fromValidation(err), { raw: rawPreview(data, text), bytes: data.length });
    }
  }
  if (text === undefined) {
    return fail(
      fromValidation(new BusValidationError('BAD_JSON', '(body)', '(binary)', 'UTF-8 JSON')),
      request,
    );
  }
  if (!isVerb(verb)) {
    return fail(
      fromValidation(
        new BusValidationError('UNKNOWN_VERB', 'verb', verb, `one of ${VERBS.join(', ')}`),
      ),
      request,
    );
  }
  const invalid = check(commandSchema(verb), request);
  if (invalid) return fail(fromValidation(invalid), request);

  const handler = handlers[verb] as CommandHandler<Verb> | undefined;
  if (!handler) {
    return fail({ code: 'UNAVAILABLE', message: `this daemon does not handle '${verb}'` }, request);
  }
  let result: unknown;
  try {
    result = await handler(request as CommandBodies[Verb], {
      id,
      verb,
      subject,
      receivedAt,
      caller,
    });
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    const message = typeof e?.message === 'string' ? e.message : String(err);
    if (isCommandErrorCode(e?.code)) {
      const body: CommandErrorBody = { code: e.code, message };
      if (err instanceof BusValidationError) Object.assign(body, fromValidation(err));
      return fail(body, request);
    }
    return fail({ code: 'INTERNAL', message }, request, err);
  }
  if (typeof result !== 'object' || result === null || Array.isArray(result)) {
    return fail(
      {
        code: 'INTERNAL',
        message: `the '${verb}' handler returned ${Array.isArray(result) ? 'an array' : typeof result}, not an object`,
      },
      request,
      result,
    );
  }
  return { verb, request, reply: { ...(result as Record<string, unknown>), ok: true, id } };
}

function fromValidation(err: BusValidationError): CommandErrorBody {
  const code: CommandErrorCode = (COMMAND_ERROR_CODES as readonly string[]).includes(err.code)
    ? (err.code as CommandErrorCode)
    : 'BAD_REQUEST';
  const body: CommandErrorBody = {
    code,
    message: err.message,
    path: err.path,
    expected: err.expected,
  };
  if (err.value !== undefined) {
    // echo the bad value, but never a whole large body back to the requester
    body.value = JSON.stringify(err.value).length > 200 ? showValue(err.value) : err.value;
  }
  return body;
}

/** At most 256 bytes of a refused body, for the audit record (never the whole of it). */
function rawPreview(data: Uint8Array, text?: string): string {
  if (text !== undefined) return text.length > 256 ? `${text.slice(0, 256)}...` : text;
  const head = Buffer.from(data.subarray(0, 256));
  return data.length > 256 ? `${head.toString('base64')}...` : head.toString('base64');
}

function decodeText(data: Uint8Array): string | undefined {
  try {
    return decoder.decode(data);
  } catch {
    return undefined;
  }
}
