/**
 * JSON Schema validation of every bus message (schemas in ./schemas, draft 2020-12, ajv).
 * A failure becomes a BusValidationError naming the field path, the bad value and what was
 * expected, e.g. `trigger.kind: got "sometimes"; expected one of "periodic", "adaptive", ...`.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { BusValidationError, showValue } from './errors.js';
import auditCommand from './schemas/audit-command.schema.json' with { type: 'json' };
import ckptEnd from './schemas/ckpt-end.schema.json' with { type: 'json' };
import commandAttach from './schemas/command-attach.schema.json' with { type: 'json' };
import commandCheckpoint from './schemas/command-checkpoint.schema.json' with { type: 'json' };
import commandDetach from './schemas/command-detach.schema.json' with { type: 'json' };
import commandJobs from './schemas/command-jobs.schema.json' with { type: 'json' };
import commandPreempt from './schemas/command-preempt.schema.json' with { type: 'json' };
import commandReply from './schemas/command-reply.schema.json' with { type: 'json' };
import commandRestart from './schemas/command-restart.schema.json' with { type: 'json' };
import commandResume from './schemas/command-resume.schema.json' with { type: 'json' };
import commandStatus from './schemas/command-status.schema.json' with { type: 'json' };
import defs from './schemas/defs.schema.json' with { type: 'json' };
import healthEvent from './schemas/health-event.schema.json' with { type: 'json' };
import imageRecord from './schemas/image-record.schema.json' with { type: 'json' };
import resultBegin from './schemas/result-begin.schema.json' with { type: 'json' };
import resultError from './schemas/result-error.schema.json' with { type: 'json' };
import rstrtEnd from './schemas/rstrt-end.schema.json' with { type: 'json' };
import { TOKEN_EXPECTED } from './subjects.js';

/** The command verbs of the bus, in documentation order. */
export const VERBS = [
  'status',
  'jobs',
  'checkpoint',
  'restart',
  'preempt',
  'resume',
  'attach',
  'detach',
] as const;
export type Verb = (typeof VERBS)[number];

export function isVerb(v: unknown): v is Verb {
  return typeof v === 'string' && (VERBS as readonly string[]).includes(v);
}

const SCHEMAS = {
  'health-event': healthEvent,
  'result-begin': resultBegin,
  'ckpt-end': ckptEnd,
  'rstrt-end': rstrtEnd,
  'result-error': resultError,
  'image-record': imageRecord,
  'command-reply': commandReply,
  'audit-command': auditCommand,
  'command-status': commandStatus,
  'command-jobs': commandJobs,
  'command-checkpoint': commandCheckpoint,
  'command-restart': commandRestart,
  'command-preempt': commandPreempt,
  'command-resume': commandResume,
  'command-attach': commandAttach,
  'command-detach': commandDetach,
} as const;
export type SchemaName = keyof typeof SCHEMAS;

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const TOKEN_PATTERN = defs.$defs.token.pattern;

const ajv = new Ajv2020({
  allErrors: false,
  strict: true,
  verbose: true,
  allowUnionTypes: true,
  allowMatchingProperties: true, // CloudEvents extension names overlap the named attributes
});
ajv.addFormat('date-time', {
  type: 'string',
  validate: (s: string) => RFC3339.test(s) && !Number.isNaN(Date.parse(s)),
});
ajv.addSchema(defs);
const compiled = new Map<SchemaName, ValidateFunction>();
for (const [name, schema] of Object.entries(SCHEMAS)) {
  if (name !== 'command-reply') ajv.addSchema(schema);
}
ajv.addSchema(commandReply);

for (const [name, schema] of Object.entries(SCHEMAS)) {
  const fn = ajv.getSchema(schema.$id); // compile all now: a schema mistake fails at import
  if (!fn) throw new Error(`bus schema ${name} did not compile`);
  compiled.set(name as SchemaName, fn);
}

function validator(name: SchemaName): ValidateFunction {
  return compiled.get(name) as ValidateFunction;
}

/** undefined when `value` matches schema `name`, else the first problem as an error. */
export function check(name: SchemaName, value: unknown): BusValidationError | undefined {
  const fn = validator(name);
  if (fn(value)) return undefined;
  return describe(fn.errors?.[0], value);
}

/** Throws the BusValidationError of check(). */
export function assertValid(name: SchemaName, value: unknown): void {
  const err = check(name, value);
  if (err) throw err;
}

export function commandSchema(verb: Verb): SchemaName {
  return `command-${verb}`;
}

/** JSON pointer `/trigger/kind` or `/command/2` -> `trigger.kind`, `command[2]`. */
export function fieldPath(pointer: string, extra?: string): string {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (extra !== undefined) parts.push(extra);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

function describe(err: ErrorObject | undefined, root: unknown): BusValidationError {
  if (!err) return new BusValidationError('BAD_REQUEST', '', root, 'a valid message');
  const p = err.params as Record<string, unknown>;
  const at = (extra?: string) => fieldPath(err.instancePath, extra);
  switch (err.keyword) {
    case 'required': {
      const field = String(p.missingProperty);
      return new BusValidationError('BAD_REQUEST', at(field), undefined, `the field '${field}'`);
    }
    case 'additionalProperties': {
      const field = String(p.additionalProperty);
      const props = Object.keys(
        ((err.parentSchema as { properties?: object } | undefined)?.properties ?? {}) as object,
      );
      const data = err.data as Record<string, unknown>;
      const allowed = props.length ? `only ${props.join(', ')}` : 'no fields';
      return new BusValidationError('BAD_REQUEST', at(field), data[field], allowed);
    }
    case 'type':
      return new BusValidationError('BAD_REQUEST', at(), err.data, article(String(p.type)));
    case 'enum':
      return new BusValidationError(
        'BAD_REQUEST',
        at(),
        err.data,
        `one of ${(p.allowedValues as unknown[]).map((v) => showValue(v)).join(', ')}`,
      );
    case 'const':
      return new BusValidationError('BAD_REQUEST', at(), err.data, showValue(p.allowedValue));
    case 'pattern': {
      const pattern = String(p.pattern);
      if (pattern === TOKEN_PATTERN) {
        return new BusValidationError('BAD_TOKEN', at(), err.data, TOKEN_EXPECTED);
      }
      const expected =
        pattern === '^/'
          ? 'an absolute path (starting with /)'
          : pattern.startsWith('^[A-Z]')
            ? 'an UPPER_SNAKE_CASE code'
            : `a string matching ${pattern}`;
      return new BusValidationError('BAD_REQUEST', at(), err.data, expected);
    }
    case 'format':
      return new BusValidationError(
        'BAD_REQUEST',
        at(),
        err.data,
        'an RFC 3339 date-time (e.g. 2025-01-31T12:00:00Z)',
      );
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return new BusValidationError(
        'BAD_REQUEST',
        at(),
        err.data,
        `a number ${String(p.comparison)} ${String(p.limit)}`,
      );
    case 'minLength':
      return new BusValidationError(
        'BAD_REQUEST',
        at(),
        err.data,
        p.limit === 1 ? 'a non-empty string' : `at least ${String(p.limit)} characters`,
      );
    case 'maxLength':
      return new BusValidationError(
        'BAD_REQUEST',
        at(),
        err.data,
        `at most ${String(p.limit)} characters`,
      );
    default:
      return new BusValidationError('BAD_REQUEST', at(), err.data, err.message ?? err.keyword);
  }
}

function article(type: string): string {
  const t = type.split(',').join(' or ');
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}
