/**
 * Text rendering of libckpt's image description (pure, for tests). The JSON is
 * rendered by shape so new fields show up without a CLI change: scalars as
 * `key: value` (byte counts humanised), objects as indented blocks, arrays of
 * objects as tables (their own nested arrays, e.g. a process's threads and VMAs,
 * as sub-sections). Checksum results are counted for the summary and exit code.
 */
import { formatBytes } from './progress.js';

const BYTE_KEY = /(^|_)(bytes|size|len|length)$|Bytes$|Size$/;
const HEX_KEY = /(crc|crc32c|checksum|xcr0|flags|start|end|addr|address)$/i;
const MAX_COLUMNS = 9;
const MAX_ROWS = 200;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function scalar(key: string, v: Json): string {
  if (typeof v === 'number' && BYTE_KEY.test(key) && v >= 1024) return `${formatBytes(v)} (${v})`;
  if (typeof v === 'number' && HEX_KEY.test(key) && Number.isInteger(v) && v > 9) {
    return `0x${v.toString(16)}`;
  }
  if (v === null) return '-';
  return String(v);
}

/** Count checksum verdicts anywhere in the description. */
export function countChecksums(value: unknown): { ok: number; bad: number; unverified: number } {
  const tally = { ok: 0, bad: 0, unverified: 0 };
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (isObject(v)) {
      for (const [k, x] of Object.entries(v)) {
        if (
          /^(crc_?ok|checksum_?ok|crcOk|checksumOk|verified)$/.test(k) &&
          typeof x === 'boolean'
        ) {
          if (x) tally.ok++;
          else if (k === 'verified') tally.unverified++;
          else tally.bad++;
        } else if (
          /^(crc_?status|checksum_?status|checksum|crcStatus)$/.test(k) &&
          typeof x === 'string'
        ) {
          const s = x.toLowerCase();
          if (s === 'ok' || s === 'good' || s === 'verified') tally.ok++;
          else if (s.includes('not') || s.includes('skip') || s.includes('unverified'))
            tally.unverified++;
          else tally.bad++;
        } else walk(x);
      }
    }
  };
  walk(value);
  return tally;
}

/** processes -> process, threads -> thread (labels of nested sections). */
function singular(word: string): string {
  return word.endsWith('sses') ? word.slice(0, -2) : word.replace(/s$/, '');
}

function table(rows: Record<string, Json>[], indent: string): string[] {
  const columns: string[] = [];
  for (const r of rows) {
    for (const [k, v] of Object.entries(r)) {
      if ((v === null || typeof v !== 'object') && !columns.includes(k)) columns.push(k);
    }
  }
  const shown = columns.slice(0, MAX_COLUMNS);
  const cells = rows
    .slice(0, MAX_ROWS)
    .map((r) => shown.map((c) => (c in r ? scalar(c, r[c] as Json) : '')));
  const widths = shown.map((c, i) =>
    Math.max(c.length, ...cells.map((row) => (row[i] as string).length)),
  );
  const line = (vals: string[]) =>
    `${indent}${vals.map((v, i) => v.padEnd(widths[i] as number)).join('  ')}`.trimEnd();
  const out = [line(shown), ...cells.map(line)];
  if (rows.length > MAX_ROWS) out.push(`${indent}... ${rows.length - MAX_ROWS} more (see --json)`);
  if (columns.length > MAX_COLUMNS)
    out.push(`${indent}(more columns in --json: ${columns.slice(MAX_COLUMNS).join(', ')})`);
  return out;
}

/**
 * The image's processes as a tree: one row each in creation order (a parent
 * before its children), the command indented under its parent.
 */
function processTree(rows: Record<string, Json>[], indent: string): string[] {
  const depth = new Map<Json, number>();
  const cells = rows.map((r) => {
    const d = depth.has(r.ppid ?? null) ? (depth.get(r.ppid ?? null) as number) + 1 : 0;
    depth.set(r.pid ?? null, d);
    const cmd = `${d ? `${'  '.repeat(d - 1)}\\_ ` : ''}${scalar('command', r.command ?? null)}`;
    return [
      ...['pid', 'ppid', 'pgid', 'sid', 'state'].map((k) => scalar(k, r[k] ?? null)),
      'exit' in r ? scalar('exit', r.exit ?? null) : '',
      cmd,
    ];
  });
  const head = ['pid', 'ppid', 'pgid', 'sid', 'state', 'exit', 'command'];
  const widths = head.map((c, i) =>
    Math.max(c.length, ...cells.map((row) => (row[i] as string).length)),
  );
  const line = (vals: string[]) =>
    `${indent}${vals.map((v, i) => v.padEnd(widths[i] as number)).join('  ')}`.trimEnd();
  return [line(head), ...cells.map(line)];
}

function block(key: string, value: Json, indent: string, out: string[]): void {
  if (key === 'tree' && Array.isArray(value) && value.length > 0 && value.every(isObject)) {
    out.push(`${indent}${key} (${value.length}):`);
    out.push(...processTree(value as Record<string, Json>[], `${indent}  `));
    return;
  }
  if (Array.isArray(value)) {
    if (value.length === 0) {
      out.push(`${indent}${key}: none`);
    } else if (value.every(isObject)) {
      const rows = value as Record<string, Json>[];
      out.push(`${indent}${key} (${rows.length}):`);
      out.push(...table(rows, `${indent}  `));
      rows.forEach((row, i) => {
        for (const [k, v] of Object.entries(row)) {
          if (v !== null && typeof v === 'object') {
            const label = row.pid ?? row.tid ?? row.id ?? row.name ?? i;
            block(`${singular(key)} ${String(label)} ${k}`, v, indent, out);
          }
        }
      });
    } else {
      out.push(
        `${indent}${key}: ${value.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(', ')}`,
      );
    }
    return;
  }
  if (isObject(value)) {
    out.push(`${indent}${key}:`);
    for (const [k, v] of Object.entries(value)) block(k, v, `${indent}  `, out);
    return;
  }
  out.push(`${indent}${key}: ${scalar(key, value)}`);
}

export function renderInspection(
  info: Record<string, unknown>,
  path: string,
): { text: string; badChecksums: number } {
  const out: string[] = [`file: ${path}`];
  for (const [k, v] of Object.entries(info)) block(k, v as Json, '', out);
  const sums = countChecksums(info);
  const verdict =
    sums.bad > 0
      ? `${sums.bad} BAD, ${sums.ok} ok`
      : sums.ok > 0
        ? `all ${sums.ok} verified ok`
        : 'not verified';
  out.push(`checksums: ${verdict}${sums.unverified ? ` (${sums.unverified} not verified)` : ''}`);
  return { text: `${out.join('\n')}\n`, badChecksums: sums.bad };
}
