/**
 * Validation of incoming health events: subject shape and tokens, size, JSON, the
 * CloudEvents schema, and that the subject's node equals the event's node. Pure: the bus
 * counts and logs what this rejects, and nothing else happens.
 */
import type { HealthEvent } from '../shared/types.js';
import { isToken } from '../shared/types.js';
import { parseBoundedJson } from './bounded-json.js';
import { BusValidationError } from './errors.js';
import { TOKEN_EXPECTED, tokensAfterPrefix } from './subjects.js';
import { check } from './validate.js';

export const HEALTH_REJECT_REASONS = [
  'subject',
  'token',
  'size',
  'json',
  'schema',
  'node',
] as const;
export type HealthRejectReason = (typeof HEALTH_REJECT_REASONS)[number];

export type HealthParse =
  | { ok: true; event: HealthEvent }
  | { ok: false; reason: HealthRejectReason; error: BusValidationError };

const decoder = new TextDecoder('utf-8', { fatal: true });

export function parseHealthMessage(
  prefix: string,
  subject: string,
  data: Uint8Array,
  maxBytes: number,
): HealthParse {
  const t = tokensAfterPrefix(prefix, subject);
  if (t?.[0] !== 'health' || t.length !== 3) {
    return reject(
      'subject',
      new BusValidationError(
        'BAD_REQUEST',
        'subject',
        subject,
        `${prefix}.health.<node>.<source> (exactly two tokens after 'health')`,
      ),
    );
  }
  const [, node, source] = t;
  if (!isToken(node)) {
    return reject(
      'token',
      new BusValidationError('BAD_TOKEN', 'subject node', node, TOKEN_EXPECTED),
    );
  }
  if (!isToken(source)) {
    return reject(
      'token',
      new BusValidationError('BAD_TOKEN', 'subject source', source, TOKEN_EXPECTED),
    );
  }
  if (data.length > maxBytes) {
    return reject(
      'size',
      new BusValidationError(
        'BAD_REQUEST',
        '(body)',
        `${data.length} bytes`,
        `at most ${maxBytes} bytes`,
      ),
    );
  }
  let body: unknown;
  let text: string;
  try {
    text = decoder.decode(data);
  } catch (err) {
    return reject(
      'json',
      new BusValidationError('BAD_JSON', '(body)', '(binary)', 'UTF-8 CloudEvents JSON', {
        cause: err,
      }),
    );
  }
  try {
    body = parseBoundedJson(text, data.length, {
      maxBytes,
      expected: 'CloudEvents structured JSON',
    });
  } catch (err) {
    if (!(err instanceof BusValidationError)) throw err;
    return reject(err.code === 'BAD_JSON' ? 'json' : 'size', err);
  }
  const invalid = check('health-event', body);
  if (invalid) return reject(invalid.code === 'BAD_TOKEN' ? 'token' : 'schema', invalid);
  const event = body as HealthEvent;
  if (event.node !== node) {
    return reject(
      'node',
      new BusValidationError(
        'NODE_MISMATCH',
        'node',
        event.node,
        `the node of the subject ('${node}' in ${subject})`,
      ),
    );
  }
  return { ok: true, event };
}

function reject(reason: HealthRejectReason, error: BusValidationError): HealthParse {
  return { ok: false, reason, error };
}
