/**
 * BLCR's "what happens to the process afterwards" options, shared by
 * cr_checkpoint and cr_restart: --run (default), -S/--signal N, --stop, --term,
 * --abort, --kill, --cont. The last one given wins, as in BLCR.
 */
import { constants } from 'node:os';
import { UsageError } from '../errors.js';
import type { OptionSpec, ParsedArgs } from '../options.js';

export type AfterAction =
  | { kind: 'run' }
  | { kind: 'cont' }
  | { kind: 'stop' }
  | { kind: 'term' }
  | { kind: 'abort' }
  | { kind: 'kill' }
  | { kind: 'signal'; signal: number };

export const AFTER_OPTION_SPECS: readonly OptionSpec[] = [
  { long: 'run' },
  { long: 'signal', short: 'S', arg: 'required', argName: 'NUM' },
  { long: 'stop' },
  { long: 'term' },
  { long: 'abort' },
  { long: 'kill' },
  { long: 'cont' },
];

const SIMPLE = new Set(['run', 'cont', 'stop', 'term', 'abort', 'kill']);

/** A signal number (1..64) or name (TERM, SIGTERM); 0 means none (like --run). */
export function parseSignal(text: string | undefined, what: string): number {
  const t = (text ?? '').trim();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n <= 64) return n;
  } else {
    const name = t.toUpperCase().startsWith('SIG') ? t.toUpperCase() : `SIG${t.toUpperCase()}`;
    const n = (constants.signals as Record<string, number>)[name];
    if (n !== undefined) return n;
  }
  throw new UsageError(`${what} must be a signal number 0..64 or a name like TERM, got '${t}'`);
}

export function afterFromOptions(parsed: ParsedArgs): AfterAction {
  let after: AfterAction = { kind: 'run' };
  for (const o of parsed.options) {
    if (SIMPLE.has(o.name)) after = { kind: o.name as 'run' };
    else if (o.name === 'signal') {
      const signal = parseSignal(o.value, `the NUM of '${o.spelled}'`);
      after = signal === 0 ? { kind: 'run' } : { kind: 'signal', signal };
    }
  }
  return after;
}

/** A few words for messages: "left stopped", "killed". */
export function describeAfter(a: AfterAction): string {
  switch (a.kind) {
    case 'run':
    case 'cont':
      return 'left running';
    case 'stop':
      return 'left stopped (SIGSTOP)';
    case 'term':
      return 'sent SIGTERM';
    case 'abort':
      return 'sent SIGABRT';
    case 'kill':
      return 'killed (SIGKILL)';
    case 'signal':
      return `sent signal ${a.signal}`;
  }
}
