/** Helpers for verbs that talk to a node daemon over the bus. */
import type { AfterCheckpoint } from '../shared/types.js';
import { isToken } from '../shared/types.js';
import type { AfterAction } from './blcr/after.js';
import { CliError, UsageError } from './errors.js';

/**
 * The after-action as the bus spells it (docs/bus.md), or a usage error naming
 * what the daemon accepts: --abort and -S are local-only.
 */
export function busAfter(
  after: AfterAction,
  verb: string,
  allowed: readonly AfterCheckpoint[],
): AfterCheckpoint {
  const name: string =
    after.kind === 'run' || after.kind === 'cont'
      ? 'continue'
      : after.kind === 'term'
        ? 'terminate'
        : after.kind;
  if (!(allowed as readonly string[]).includes(name)) {
    const flags = allowed.map(
      (a) => `--${a === 'continue' ? 'cont' : a === 'terminate' ? 'term' : a}`,
    );
    throw new UsageError(
      `${verb} through a daemon takes ${flags.join(', ')} as the after-action, not --${after.kind === 'signal' ? 'signal' : after.kind}`,
    );
  }
  return name as AfterCheckpoint;
}

export function requireNode(node: string | undefined, verb: string): asserts node is string {
  if (node === undefined) throw new UsageError(`${verb} through the bus needs --node NODE`);
  if (!isToken(node)) {
    throw new UsageError(`--node must be 1-64 letters, digits, '_' or '-', got '${node}'`);
  }
}

/** The daemon answered with an error object: make it one CLI line. */
export function replyError(reply: unknown): string | undefined {
  if (typeof reply !== 'object' || reply === null) return undefined;
  const r = reply as Record<string, unknown>;
  if (r.ok === false || typeof r.error === 'string' || (typeof r.error === 'object' && r.error)) {
    const e = r.error;
    if (typeof e === 'string') return e;
    if (typeof e === 'object' && e && typeof (e as { message?: unknown }).message === 'string') {
      return (e as { message: string }).message;
    }
    return 'the daemon refused the request';
  }
  return undefined;
}

/** Print a daemon reply (JSON or key: value lines); a refusal becomes a CliError. */
export function printResult(reply: unknown, json: boolean, what: string): number {
  const err = replyError(reply);
  if (err !== undefined) throw new CliError(`${what} failed on the daemon: ${err}`);
  if (json) {
    process.stdout.write(`${JSON.stringify(reply)}\n`);
    return 0;
  }
  process.stdout.write(`${formatValue(reply)}\n`);
  return 0;
}

export function formatValue(value: unknown, indent = ''): string {
  if (value === null || typeof value !== 'object') return `${indent}${String(value)}`;
  const lines: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v !== null && typeof v === 'object' && Object.keys(v).length === 0) {
      lines.push(`${indent}${k}: none`);
    } else if (v !== null && typeof v === 'object') {
      lines.push(`${indent}${k}:`);
      lines.push(formatValue(v, `${indent}  `));
    } else {
      lines.push(`${indent}${k}: ${String(v)}`);
    }
  }
  return lines.join('\n');
}
