/**
 * cr_restart's command line (BLCR's options) turned into a RestartPlan. Pure.
 */
import type { EngineChoice } from '../../shared/engine-choice.js';
import { ENGINE_OPTION_SPEC, engineFromOptions } from '../engine.js';
import { UsageError } from '../errors.js';
import type { OptionSpec, ParsedArgs } from '../options.js';
import { parseInteger, parseOptions } from '../options.js';
import { AFTER_OPTION_SPECS, type AfterAction, afterFromOptions } from './after.js';

/** Which failure a --run-on-fail-* command is for (BLCR's classes). */
export type FailureClass = 'args' | 'temp' | 'env' | 'perm';

export interface RestartPlan {
  source: { kind: 'file'; path: string } | { kind: 'fd'; fd: number };
  restorePid: boolean;
  restorePgid: boolean;
  restoreSid: boolean;
  relocate: string[]; // "OLD=NEW"
  after: AfterAction;
  engine?: EngineChoice; // --engine: kernel asks ckpt.ko for the PIDs and exe link
  runOnSuccess?: string;
  runOnFailure?: string;
  runOnFail: Partial<Record<FailureClass, string>>;
  quiet: boolean;
  verbose: boolean;
}

export const MAX_RELOCATIONS = 16;

export const RESTART_OPTION_SPECS: readonly OptionSpec[] = [
  { long: 'file', short: 'f', arg: 'required', argName: 'FILE' },
  { long: 'fd', short: 'F', arg: 'required', argName: 'FD' },
  { long: 'restore-pid' },
  { long: 'no-restore-pid' },
  { long: 'restore-pgid' },
  { long: 'no-restore-pgid' },
  { long: 'restore-sid' },
  { long: 'no-restore-sid' },
  { long: 'relocate', arg: 'required', argName: 'OLD=NEW' },
  ...AFTER_OPTION_SPECS,
  { long: 'run-on-success', arg: 'required', argName: 'CMD' },
  { long: 'run-on-failure', arg: 'required', argName: 'CMD' },
  { long: 'run-on-fail-args', arg: 'required', argName: 'CMD' },
  { long: 'run-on-fail-temp', arg: 'required', argName: 'CMD' },
  { long: 'run-on-fail-env', arg: 'required', argName: 'CMD' },
  { long: 'run-on-fail-perm', arg: 'required', argName: 'CMD' },
  ENGINE_OPTION_SPEC,
  { long: 'quiet', short: 'q' },
  { long: 'verbose', short: 'v' },
  { long: 'help', short: '?' },
  { long: 'version' },
];

export function parseRestartArgs(argv: readonly string[]): {
  parsed: ParsedArgs;
  plan?: RestartPlan;
} {
  const parsed = parseOptions(argv, RESTART_OPTION_SPECS);
  if (parsed.options.some((o) => o.name === 'help' || o.name === 'version')) return { parsed };
  return { parsed, plan: planRestart(parsed) };
}

/** Validate one --relocate OLD=NEW (BLCR: both absolute paths; '\=' escapes a '='). */
export function checkRelocation(text: string): string {
  const at = findUnescapedEquals(text);
  if (at < 0) throw new UsageError(`--relocate needs OLD=NEW, got '${text}'`);
  const from = text.slice(0, at);
  const to = text.slice(at + 1);
  if (findUnescapedEquals(to) >= 0)
    throw new UsageError(`--relocate '${text}' has more than one '='`);
  if (!from.startsWith('/') || !to.startsWith('/')) {
    throw new UsageError(`--relocate OLD and NEW must be absolute paths, got '${text}'`);
  }
  return text;
}

function findUnescapedEquals(s: string): number {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === '=') return i;
  }
  return -1;
}

export function planRestart(parsed: ParsedArgs): RestartPlan {
  const sources: RestartPlan['source'][] = [];
  for (const o of parsed.options) {
    if (o.name === 'file') {
      if (!o.value) throw new UsageError(`option '${o.spelled}' needs a non-empty FILE`);
      sources.push({ kind: 'file', path: o.value });
    } else if (o.name === 'fd') {
      sources.push({
        kind: 'fd',
        fd: parseInteger(o.value, `the FD of '${o.spelled}'`, 0, 1 << 20),
      });
    }
  }
  for (const p of parsed.positionals) sources.push({ kind: 'file', path: p });
  if (sources.length === 0) throw new UsageError('missing the context FILE to restart from');
  if (sources.length > 1) throw new UsageError(`expected one context file, got ${sources.length}`);

  const flag = (name: string, dflt: boolean): boolean => {
    let v = dflt;
    for (const o of parsed.options) {
      if (o.name === `restore-${name}`) v = true;
      else if (o.name === `no-restore-${name}`) v = false;
    }
    return v;
  };
  const relocate = parsed.options
    .filter((o) => o.name === 'relocate')
    .map((o) => checkRelocation(o.value ?? ''));
  if (relocate.length > MAX_RELOCATIONS) {
    throw new UsageError(`at most ${MAX_RELOCATIONS} --relocate options, got ${relocate.length}`);
  }
  const plan: RestartPlan = {
    source: sources[0] as RestartPlan['source'],
    restorePid: flag('pid', true),
    restorePgid: flag('pgid', false),
    restoreSid: flag('sid', false),
    relocate,
    after: afterFromOptions(parsed),
    runOnFail: {},
    quiet: parsed.options.some((o) => o.name === 'quiet'),
    verbose: parsed.options.some((o) => o.name === 'verbose'),
  };
  const engine = engineFromOptions(parsed);
  if (engine) plan.engine = engine;
  for (const o of parsed.options) {
    if (o.name === 'run-on-success') plan.runOnSuccess = o.value;
    else if (o.name === 'run-on-failure') plan.runOnFailure = o.value;
    else if (o.name.startsWith('run-on-fail-')) {
      plan.runOnFail[o.name.slice('run-on-fail-'.length) as FailureClass] = o.value;
    }
  }
  return plan;
}
