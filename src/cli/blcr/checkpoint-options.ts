/**
 * cr_checkpoint's command line (BLCR's options, see docs/blcr-compatibility.md)
 * turned into a CheckpointPlan: what to checkpoint, where, how to replace an old
 * image, and what to do with the target afterwards. Pure: no I/O here.
 */
import type { EngineChoice } from '../../shared/engine-choice.js';
import { ENGINE_OPTION_SPEC, engineFromOptions } from '../engine.js';
import { UsageError } from '../errors.js';
import type { OptionSpec, ParsedArgs } from '../options.js';
import { last, parseInteger, parseNumber, parseOptions } from '../options.js';
import { AFTER_OPTION_SPECS, type AfterAction, afterFromOptions } from './after.js';

export type Scope = 'tree' | 'pid' | 'pgid' | 'sid';
export type Replace = 'atomic' | 'backup' | 'clobber' | 'noclobber';
export type SaveMode = 'none' | 'exe' | 'private' | 'shared' | 'all';

export interface CheckpointPlan {
  id: number;
  scope: Scope;
  scopeExplicit: boolean; // false: BLCR's default (-T)
  destination:
    | { kind: 'file'; path: string }
    | { kind: 'fd'; fd: number }
    | { kind: 'cwd' }
    | { kind: 'default' };
  replace: Replace;
  backupName?: string; // --backup=NAME
  after: AfterAction;
  sync: boolean;
  tcpEstablished?: boolean; // save established TCP connections (TCP_REPAIR)
  timeoutSec?: number;
  engine?: EngineChoice; // --engine (not BLCR's: BLCR had only its kernel module)
  save: SaveMode[]; // in the order given; [] means BLCR's default (--save-none)
  ptraced: 'error' | 'skip' | 'allow';
  ptracer: 'error' | 'skip';
  quiet: boolean;
  verbose: boolean;
}

export const CHECKPOINT_OPTION_SPECS: readonly OptionSpec[] = [
  { long: 'tree', short: 'T' },
  { long: 'pid', short: 'p' },
  { long: 'pgid', short: 'g' },
  { long: 'sid', short: 's' },
  { long: 'file', short: 'f', arg: 'required', argName: 'FILE' },
  { long: 'fd', short: 'F', arg: 'required', argName: 'FD' },
  { long: 'cwd', short: 'c' },
  { long: 'atomic' },
  { long: 'backup', arg: 'optional', argName: 'NAME' },
  { long: 'clobber' },
  { long: 'noclobber' },
  ...AFTER_OPTION_SPECS,
  { long: 'sync' },
  { long: 'nosync' },
  { long: 'tcp-established' },
  { long: 'save-exe' },
  { long: 'save-private' },
  { long: 'save-shared' },
  { long: 'save-all' },
  { long: 'save-none' },
  { long: 'time', short: 't', arg: 'required', argName: 'SEC' },
  ENGINE_OPTION_SPEC,
  { long: 'ptraced-error' },
  { long: 'ptraced-skip' },
  { long: 'ptraced-allow' },
  { long: 'ptracer-error' },
  { long: 'ptracer-skip' },
  { long: 'quiet', short: 'q' },
  { long: 'verbose', short: 'v' },
  { long: 'help', short: '?' },
  { long: 'version' },
];

const SCOPES: Record<string, Scope> = { tree: 'tree', pid: 'pid', pgid: 'pgid', sid: 'sid' };
const REPLACES: Record<string, Replace> = {
  atomic: 'atomic',
  backup: 'backup',
  clobber: 'clobber',
  noclobber: 'noclobber',
};
const SAVES: Record<string, SaveMode> = {
  'save-none': 'none',
  'save-exe': 'exe',
  'save-private': 'private',
  'save-shared': 'shared',
  'save-all': 'all',
};

export function parseCheckpointArgs(argv: readonly string[]): {
  parsed: ParsedArgs;
  plan?: CheckpointPlan;
} {
  const parsed = parseOptions(argv, CHECKPOINT_OPTION_SPECS);
  if (parsed.options.some((o) => o.name === 'help' || o.name === 'version')) return { parsed };
  return { parsed, plan: planCheckpoint(parsed) };
}

export function planCheckpoint(parsed: ParsedArgs): CheckpointPlan {
  if (parsed.positionals.length === 0)
    throw new UsageError('missing the ID (PID, PGID or SID) to checkpoint');
  if (parsed.positionals.length > 1) {
    throw new UsageError(
      `expected one ID, got ${parsed.positionals.length}: ${parsed.positionals.join(' ')}`,
    );
  }
  const id = parseInteger(parsed.positionals[0], 'the ID to checkpoint', 1, 4194304);

  let scope: Scope = 'tree';
  let scopeExplicit = false;
  let destination: CheckpointPlan['destination'] = { kind: 'default' };
  let replace: Replace = 'atomic';
  let backupName: string | undefined;
  let sync = true;
  const save: SaveMode[] = [];
  let ptraced: CheckpointPlan['ptraced'] = 'error';
  let ptracer: CheckpointPlan['ptracer'] = 'error';
  const destinations: string[] = [];

  for (const o of parsed.options) {
    if (o.name in SCOPES) {
      scope = SCOPES[o.name] as Scope;
      scopeExplicit = true;
    } else if (o.name === 'file') {
      if (!o.value) throw new UsageError(`option '${o.spelled}' needs a non-empty FILE`);
      destination = { kind: 'file', path: o.value };
      destinations.push(o.spelled);
    } else if (o.name === 'fd') {
      destination = {
        kind: 'fd',
        fd: parseInteger(o.value, `the FD of '${o.spelled}'`, 0, 1 << 20),
      };
      destinations.push(o.spelled);
    } else if (o.name === 'cwd') {
      destination = { kind: 'cwd' };
      destinations.push(o.spelled);
    } else if (o.name in REPLACES) {
      replace = REPLACES[o.name] as Replace;
      backupName = o.name === 'backup' ? o.value : undefined;
      if (o.name === 'backup' && o.value === '') throw new UsageError("'--backup=' needs a NAME");
    } else if (o.name === 'sync' || o.name === 'nosync') {
      sync = o.name === 'sync';
    } else if (o.name in SAVES) {
      save.push(SAVES[o.name] as SaveMode);
    } else if (o.name.startsWith('ptraced-')) {
      ptraced = o.name.slice('ptraced-'.length) as CheckpointPlan['ptraced'];
    } else if (o.name.startsWith('ptracer-')) {
      ptracer = o.name.slice('ptracer-'.length) as CheckpointPlan['ptracer'];
    }
  }
  if (new Set(destinations).size > 1) {
    throw new UsageError(`choose one destination, got ${[...new Set(destinations)].join(' and ')}`);
  }
  if (destination.kind === 'fd' && (replace !== 'atomic' || backupName !== undefined)) {
    throw new UsageError(`'--${replace}' applies to a file, not to '-F FD'`);
  }
  const time = last(parsed, 'time');
  const plan: CheckpointPlan = {
    id,
    scope,
    scopeExplicit,
    destination,
    replace,
    after: afterFromOptions(parsed),
    sync,
    save,
    ptraced,
    ptracer,
    quiet: parsed.options.some((o) => o.name === 'quiet'),
    verbose: parsed.options.some((o) => o.name === 'verbose'),
  };
  if (backupName !== undefined) plan.backupName = backupName;
  const engine = engineFromOptions(parsed);
  if (engine) plan.engine = engine;
  if (parsed.options.some((o) => o.name === 'tcp-established')) plan.tcpEstablished = true;
  if (time !== undefined) plan.timeoutSec = parseNumber(time, "the SEC of '-t/--time'", 0, 4294967);
  return plan;
}

/** Where the image goes, given the target's cwd (for -c) and ours (the default). */
export function contextFileName(id: number): string {
  return `context.${id}`;
}
