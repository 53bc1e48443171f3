/**
 * Subject layout of the bus (docs/bus.md). Every subject starts with a configurable prefix
 * (default `ft`); node names, job ids, sources and verbs are subject-safe tokens.
 *
 *   <prefix>.health.<node>.<source>            health events in (CloudEvents JSON)
 *   <prefix>.ckpt.<node>.<job>.<phase>         checkpoint results out (begin|end|error)
 *   <prefix>.rstrt.<node>.<job>.<phase>        restart results out (begin|end|error)
 *   <prefix>.cmd.<node>.<verb>                 commands (request/reply)
 *   <prefix>.audit.cmd.<node>.<verb>           audit copy of each command and its reply
 */
import { isToken } from '../shared/types.js';
import { BusValidationError } from './errors.js';

export const DEFAULT_PREFIX = 'ft';
export const RESULT_KINDS = ['ckpt', 'rstrt'] as const;
export type ResultKind = (typeof RESULT_KINDS)[number];
export const RESULT_PHASES = ['begin', 'end', 'error'] as const;
export type ResultPhase = (typeof RESULT_PHASES)[number];

const PREFIX_RE = /^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$/;
export const TOKEN_EXPECTED = "a subject-safe token (1-64 letters, digits, '_' or '-')";

/** Throws BusValidationError unless `prefix` is dot-separated tokens, not starting with `$`. */
export function checkPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string' || !PREFIX_RE.test(prefix)) {
    throw new BusValidationError(
      'BAD_TOKEN',
      'prefix',
      prefix,
      "dot-separated tokens of letters, digits, '_' or '-' (e.g. 'ft' or 'site.ft')",
    );
  }
}

/** Throws BusValidationError(BAD_TOKEN) naming `what` unless `value` is a token. */
export function checkToken(what: string, value: unknown): asserts value is string {
  if (!isToken(value)) throw new BusValidationError('BAD_TOKEN', what, value, TOKEN_EXPECTED);
}

export function healthSubject(prefix: string, node: string, source: string): string {
  return `${prefix}.health.${node}.${source}`;
}

export function resultSubject(
  prefix: string,
  kind: ResultKind,
  node: string,
  job: string,
  phase: ResultPhase,
): string {
  return `${prefix}.${kind}.${node}.${job}.${phase}`;
}

export function commandSubject(prefix: string, node: string, verb: string): string {
  return `${prefix}.cmd.${node}.${verb}`;
}

export function auditSubject(prefix: string, node: string, verb: string): string {
  return `${prefix}.audit.cmd.${node}.${verb}`;
}

/** Subjects the history stream captures (never the command subjects: see docs/bus.md). */
export function historySubjects(prefix: string): string[] {
  return [`${prefix}.health.>`, `${prefix}.ckpt.>`, `${prefix}.rstrt.>`, `${prefix}.audit.>`];
}

/** Default stream name for a prefix: `ft` -> FT_HISTORY, `site.ft` -> SITE_FT_HISTORY. */
export function defaultStreamName(prefix: string): string {
  return `${prefix.replace(/[.-]/g, '_').toUpperCase()}_HISTORY`;
}

/** The tokens after `<prefix>.` of a subject, or undefined if it lacks the prefix. */
export function tokensAfterPrefix(prefix: string, subject: string): string[] | undefined {
  if (!subject.startsWith(`${prefix}.`)) return undefined;
  return subject.slice(prefix.length + 1).split('.');
}

export type ParsedSubject =
  | { kind: 'health'; node: string; source: string }
  | { kind: ResultKind; node: string; job: string; phase: ResultPhase }
  | { kind: 'cmd'; node: string; verb: string }
  | { kind: 'audit'; node: string; verb: string };

/** Parse any bus subject; undefined if it is not one of the documented forms. */
export function parseSubject(prefix: string, subject: string): ParsedSubject | undefined {
  const t = tokensAfterPrefix(prefix, subject);
  if (!t) return undefined;
  const [head, a, b, c, d] = t;
  if (head === 'health' && t.length === 3 && a && b) return { kind: 'health', node: a, source: b };
  if ((head === 'ckpt' || head === 'rstrt') && t.length === 4 && a && b && c) {
    if (!(RESULT_PHASES as readonly string[]).includes(c)) return undefined;
    return { kind: head, node: a, job: b, phase: c as ResultPhase };
  }
  if (head === 'cmd' && t.length === 3 && a && b) return { kind: 'cmd', node: a, verb: b };
  if (head === 'audit' && a === 'cmd' && t.length === 4 && b && c && d === undefined) {
    return { kind: 'audit', node: b, verb: c };
  }
  return undefined;
}
