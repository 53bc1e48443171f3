/**
 * The schema of policy files, checked by hand so that every error names the key path, the
 * bad value and the accepted form. Pure: takes the parsed document, returns policies.
 *
 *   version: 1            # optional
 *   policies:             # a non-empty list
 *     - name: hourly      # unique, 1-64 of A-Z a-z 0-9 _ -
 *       kind: periodic    # periodic | adaptive | automatic | preemptive
 *       ...               # see docs/policies.md for every key
 */
import type { AfterCheckpoint } from '../shared/types.js';
import { type Checker, type KeyPath, type Mapping, TOKEN_FORM } from './checker.js';
import { formatDuration } from './duration.js';
import {
  type AdaptivePolicy,
  type AutomaticPolicy,
  type AutomaticRule,
  type Comparison,
  type DataCondition,
  type JobSelector,
  type MtbfSpec,
  type PeriodicPolicy,
  POLICY_KINDS,
  type Policy,
  type PreemptivePolicy,
} from './types.js';

const AFTERS = ['continue', 'stop', 'terminate', 'kill'] as const;
const PREEMPT_AFTERS = ['stop', 'terminate', 'kill'] as const;
const COMPARISONS = ['>', '>=', '<', '<=', '==', '!='] as const;
const ORDERING: readonly Comparison[] = ['>', '>=', '<', '<='];

export const DOCUMENT_FORM = "a mapping with a 'policies' list (and optionally version: 1)";
const POLICY_FORM = 'a mapping with name, kind and the keys of that kind';
const JOBS_FORM = `a glob over job ids (e.g. "mpi-*") or a non-empty list of job ids (${TOKEN_FORM})`;

const COMMON_KEYS = ['name', 'kind', 'description', 'jobs', 'after'] as const;
const KEYS: Record<Policy['kind'], readonly string[]> = {
  periodic: [...COMMON_KEYS, 'cooldown', 'interval', 'scope'],
  adaptive: [
    ...COMMON_KEYS,
    'cooldown',
    'initialInterval',
    'minInterval',
    'maxInterval',
    'costSamples',
    'formula',
    'mtbf',
  ],
  automatic: [...COMMON_KEYS, 'cooldown', 'rules'],
  preemptive: [...COMMON_KEYS],
};
const RULE_KEYS = ['type', 'severity', 'node', 'where', 'count', 'within', 'target'] as const;
const WHERE_KEYS = ['path', 'op', 'value'] as const;
const MTBF_KEYS = ['prior', 'window', 'severity', 'types'] as const;

/** The policies of one parsed file. */
export function validatePolicyDocument(doc: unknown, check: Checker): Policy[] {
  if (doc === undefined || doc === null)
    check.fail([], 'the file holds no document (only comments or blank lines)', DOCUMENT_FORM);
  const top = check.mapping(doc, [], DOCUMENT_FORM);
  check.onlyKeys(top, [], ['version', 'policies']);
  if ('version' in top && top.version !== 1)
    check.fail(['version'], 'unsupported version', 'version: 1', top.version);
  const list = check.list(
    check.required(top, [], 'policies', 'a non-empty list of policies'),
    ['policies'],
    'a non-empty list of policies',
  );
  const policies = list.map((item, i) => validatePolicy(item, ['policies', i], check));
  checkUniqueNames(policies, check);
  return policies;
}

function checkUniqueNames(policies: Policy[], check: Checker): void {
  const seen = new Map<string, number>();
  policies.forEach((p, i) => {
    const first = seen.get(p.name);
    if (first !== undefined)
      check.fail(
        ['policies', i, 'name'],
        `duplicate policy name (also policies[${first}])`,
        'a name unique across all policy files',
        p.name,
      );
    seen.set(p.name, i);
  });
}

function validatePolicy(item: unknown, at: KeyPath, check: Checker): Policy {
  const m = check.mapping(item, at, POLICY_FORM);
  const kind = check.oneOf(
    check.required(m, at, 'kind', `one of ${POLICY_KINDS.join(', ')}`),
    [...at, 'kind'],
    POLICY_KINDS,
    'a policy kind',
  );
  check.onlyKeys(m, at, KEYS[kind]);
  const name = check.token(check.required(m, at, 'name', `a name of ${TOKEN_FORM}`), [
    ...at,
    'name',
  ]);
  if (name === 'command')
    check.fail([...at, 'name'], 'reserved name (used for operator commands)', 'another name', name);
  const base = {
    name,
    origin: `${check.file} ${at[0]}[${at[1]}]`,
    jobs: jobSelector(m.jobs, [...at, 'jobs'], check),
    ...(m.description === undefined
      ? {}
      : { description: check.string(m.description, [...at, 'description']) }),
  };
  switch (kind) {
    case 'periodic':
      return periodic(m, at, check, base);
    case 'adaptive':
      return adaptive(m, at, check, base);
    case 'automatic':
      return automatic(m, at, check, base);
    case 'preemptive':
      return preemptive(m, at, check, base);
  }
}

type Base = Pick<Policy, 'name' | 'origin' | 'jobs' | 'description'>;

function jobSelector(value: unknown, at: KeyPath, check: Checker): JobSelector {
  if (value === undefined) return { glob: '*' };
  if (typeof value === 'string') return { glob: check.glob(value, at) };
  if (Array.isArray(value)) {
    check.list(value, at, JOBS_FORM);
    return { ids: value.map((id, i) => check.token(id, [...at, i])) };
  }
  return check.fail(at, 'not a glob or list', JOBS_FORM, value);
}

function after(m: Mapping, at: KeyPath, check: Checker, fallback: AfterCheckpoint) {
  return m.after === undefined
    ? fallback
    : check.oneOf(m.after, [...at, 'after'], AFTERS, 'an action');
}

function optionalDuration(m: Mapping, key: string, at: KeyPath, check: Checker, positive: boolean) {
  return m[key] === undefined ? undefined : check.duration(m[key], [...at, key], positive);
}

function requiredDuration(m: Mapping, key: string, at: KeyPath, check: Checker): number {
  const v = check.required(m, at, key, 'a duration: 10s, 5m, 1h or a number of milliseconds');
  return check.duration(v, [...at, key], true);
}

/** A cooldown must be shorter than the interval it belongs to, or it would skip every tick. */
function cooldown(m: Mapping, at: KeyPath, check: Checker, limitMs: number, limitKey: string) {
  const ms = optionalDuration(m, 'cooldown', at, check, false);
  if (ms === undefined) return Math.floor(limitMs / 2);
  if (ms >= limitMs)
    check.fail(
      [...at, 'cooldown'],
      `not shorter than ${limitKey} (${formatDuration(limitMs)})`,
      `a duration shorter than ${limitKey}`,
      m.cooldown,
    );
  return ms;
}

function periodic(m: Mapping, at: KeyPath, check: Checker, base: Base): PeriodicPolicy {
  const intervalMs = requiredDuration(m, 'interval', at, check);
  return {
    ...base,
    kind: 'periodic',
    intervalMs,
    scope:
      m.scope === undefined
        ? 'job'
        : check.oneOf(m.scope, [...at, 'scope'], ['job', 'policy'] as const, 'a scope'),
    after: after(m, at, check, 'continue'),
    cooldownMs: cooldown(m, at, check, intervalMs, 'interval'),
  };
}

function adaptive(m: Mapping, at: KeyPath, check: Checker, base: Base): AdaptivePolicy {
  const minIntervalMs = optionalDuration(m, 'minInterval', at, check, true) ?? 60_000;
  const maxIntervalMs = optionalDuration(m, 'maxInterval', at, check, true) ?? 86_400_000;
  if (maxIntervalMs < minIntervalMs)
    check.fail(
      [...at, 'maxInterval'],
      `less than minInterval (${formatDuration(minIntervalMs)})`,
      'a duration at least minInterval',
      m.maxInterval,
    );
  const initialIntervalMs = requiredDuration(m, 'initialInterval', at, check);
  if (initialIntervalMs < minIntervalMs || initialIntervalMs > maxIntervalMs)
    check.fail(
      [...at, 'initialInterval'],
      'outside minInterval..maxInterval',
      `a duration from ${formatDuration(minIntervalMs)} to ${formatDuration(maxIntervalMs)}`,
      m.initialInterval,
    );
  return {
    ...base,
    kind: 'adaptive',
    formula:
      m.formula === undefined
        ? 'daly'
        : check.oneOf(m.formula, [...at, 'formula'], ['daly', 'young'] as const, 'a formula'),
    initialIntervalMs,
    minIntervalMs,
    maxIntervalMs,
    costSamples:
      m.costSamples === undefined
        ? 5
        : check.integer(m.costSamples, [...at, 'costSamples'], 1, 1000),
    mtbf: mtbf(check.required(m, at, 'mtbf', MTBF_FORM), [...at, 'mtbf'], check),
    after: after(m, at, check, 'continue'),
    cooldownMs: cooldown(m, at, check, minIntervalMs, 'minInterval'),
  };
}

const MTBF_FORM =
  'a duration (a fixed MTBF, e.g. 24h) or a mapping {prior: 24h, window: 7d, severity: error, types: "node.*"}';

function mtbf(value: unknown, at: KeyPath, check: Checker): MtbfSpec {
  if (typeof value === 'string' || typeof value === 'number')
    return { priorMs: check.duration(value, at, true), severity: 'error', types: '*' };
  const m = check.mapping(value, at, MTBF_FORM);
  check.onlyKeys(m, at, MTBF_KEYS);
  const windowMs = optionalDuration(m, 'window', at, check, true);
  return {
    priorMs: requiredDuration(m, 'prior', at, check),
    ...(windowMs === undefined ? {} : { windowMs }),
    severity:
      m.severity === undefined
        ? 'error'
        : check.oneOf(
            m.severity,
            [...at, 'severity'],
            ['error', 'fatal'] as const,
            'a failure severity',
          ),
    types: m.types === undefined ? '*' : check.glob(m.types, [...at, 'types']),
  };
}

function automatic(m: Mapping, at: KeyPath, check: Checker, base: Base): AutomaticPolicy {
  const rules = check.list(
    check.required(m, at, 'rules', RULES_FORM),
    [...at, 'rules'],
    RULES_FORM,
  );
  return {
    ...base,
    kind: 'automatic',
    rules: rules.map((r, i) => rule(r, [...at, 'rules', i], check)),
    after: after(m, at, check, 'continue'),
    cooldownMs: optionalDuration(m, 'cooldown', at, check, false) ?? 0,
  };
}

const RULES_FORM = 'a non-empty list of rules, each a mapping with at least type (a glob)';
const WHERE_FORM = 'a mapping {path: temp_c, op: ">=", value: 95} or a list of them';

function rule(value: unknown, at: KeyPath, check: Checker): AutomaticRule {
  const m = check.mapping(value, at, RULES_FORM);
  check.onlyKeys(m, at, RULE_KEYS);
  const count = m.count === undefined ? 1 : check.integer(m.count, [...at, 'count'], 1, 1_000_000);
  const withinMs = optionalDuration(m, 'within', at, check, true);
  if (count > 1 && withinMs === undefined)
    check.fail(
      [...at, 'within'],
      `missing (count is ${count})`,
      'a duration: the window the count must fall within',
    );
  const where = m.where === undefined ? [] : Array.isArray(m.where) ? m.where : [m.where];
  if (Array.isArray(m.where)) check.list(m.where, [...at, 'where'], WHERE_FORM);
  return {
    type: check.glob(
      check.required(m, at, 'type', `${'an event type glob'}, e.g. node.failure.*`),
      [...at, 'type'],
    ),
    severity: m.severity === undefined ? 'error' : check.severity(m.severity, [...at, 'severity']),
    ...(m.node === undefined ? {} : { node: check.glob(m.node, [...at, 'node']) }),
    where: where.map((w, i) =>
      condition(w, Array.isArray(m.where) ? [...at, 'where', i] : [...at, 'where'], check),
    ),
    count,
    withinMs: withinMs ?? 0,
    target:
      m.target === undefined
        ? 'node'
        : check.oneOf(m.target, [...at, 'target'], ['node', 'event'] as const, 'a target'),
  };
}

function condition(value: unknown, at: KeyPath, check: Checker): DataCondition {
  const m = check.mapping(value, at, WHERE_FORM);
  check.onlyKeys(m, at, WHERE_KEYS);
  const path = check.string(
    check.required(m, at, 'path', 'a dot-separated key path into event data'),
    [...at, 'path'],
  );
  if (path.split('.').some((seg) => seg === ''))
    check.fail(
      [...at, 'path'],
      'empty key in path',
      'a dot-separated key path like zones.cpu.temp_c',
      path,
    );
  const op = check.oneOf(
    check.required(m, at, 'op', `one of ${COMPARISONS.join(' ')}`),
    [...at, 'op'],
    COMPARISONS,
    'a comparison',
  );
  const raw = check.required(m, at, 'value', 'a number (or a string or boolean for == and !=)');
  if (ORDERING.includes(op)) {
    if (typeof raw !== 'number' || !Number.isFinite(raw))
      check.fail([...at, 'value'], `not a number (needed for ${op})`, 'a number', raw);
  } else if (!['number', 'string', 'boolean'].includes(typeof raw))
    check.fail(
      [...at, 'value'],
      'not a number, string or boolean',
      'a number, string or boolean',
      raw,
    );
  return { path, op, value: raw as DataCondition['value'] };
}

function preemptive(m: Mapping, at: KeyPath, check: Checker, base: Base): PreemptivePolicy {
  return {
    ...base,
    kind: 'preemptive',
    after:
      m.after === undefined
        ? 'stop'
        : check.oneOf(m.after, [...at, 'after'], PREEMPT_AFTERS, 'an action that frees the node'),
    cooldownMs: 0,
  };
}
