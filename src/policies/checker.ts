/**
 * Field readers for validating a parsed policy file: each reads one key, checks its type and
 * form, and throws a PolicyFileError naming the file, key path, bad value and accepted form.
 */
import { SEVERITIES, type Severity, TOKEN_RE } from '../shared/types.js';
import { DURATION_FORM, parseDuration } from './duration.js';
import { PolicyFileError } from './errors.js';
import { GLOB_FORM, globProblem } from './glob.js';

export type KeyPath = (string | number)[];
export interface Position {
  line: number;
  column: number;
}
/** Position of the value at a key path in the source text, if known. */
export type Locator = (path: KeyPath) => Position | undefined;

export const TOKEN_FORM = '1-64 characters of A-Z a-z 0-9 _ -';
export const SEVERITY_FORM = `one of ${SEVERITIES.join(', ')}`;

/** policies[2].rules[0].severity */
export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const seg of path)
    out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out;
}

export type Mapping = Record<string, unknown>;

export function isMapping(value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class Checker {
  constructor(
    readonly file: string,
    private readonly locate: Locator = () => undefined,
  ) {}

  fail(path: KeyPath, problem: string, accepted: string, value?: unknown): never {
    let pos: Position | undefined;
    for (let n = path.length; pos === undefined && n >= 0; n--) pos = this.locate(path.slice(0, n));
    throw new PolicyFileError({
      file: this.file,
      keyPath: formatKeyPath(path),
      value,
      problem,
      accepted,
      line: pos?.line,
      column: pos?.column,
    });
  }

  mapping(value: unknown, path: KeyPath, accepted: string): Mapping {
    if (!isMapping(value)) this.fail(path, `not a mapping (${kindOf(value)})`, accepted, value);
    return value;
  }

  /** Every key of `m` must be one of `allowed`. */
  onlyKeys(m: Mapping, path: KeyPath, allowed: readonly string[]): void {
    for (const key of Object.keys(m)) {
      if (!allowed.includes(key))
        this.fail([...path, key], 'unknown key', `one of the keys ${allowed.join(', ')}`, key);
    }
  }

  required(m: Mapping, path: KeyPath, key: string, accepted: string): unknown {
    if (!(key in m) || m[key] === undefined || m[key] === null)
      this.fail([...path, key], 'missing', accepted, m[key] ?? undefined);
    return m[key];
  }

  string(value: unknown, path: KeyPath, accepted = 'a string'): string {
    if (typeof value !== 'string')
      this.fail(path, `not a string (${kindOf(value)})`, accepted, value);
    return value;
  }

  token(value: unknown, path: KeyPath): string {
    const s = this.string(value, path, `a name of ${TOKEN_FORM}`);
    if (!TOKEN_RE.test(s)) this.fail(path, 'not a valid name', `a name of ${TOKEN_FORM}`, s);
    return s;
  }

  oneOf<T extends string>(value: unknown, path: KeyPath, choices: readonly T[], what: string): T {
    const accepted = `one of ${choices.join(', ')}`;
    if (typeof value !== 'string')
      this.fail(path, `not a string (${kindOf(value)})`, accepted, value);
    if (!(choices as readonly string[]).includes(value))
      this.fail(path, `not ${what}`, accepted, value);
    return value as T;
  }

  severity(value: unknown, path: KeyPath): Severity {
    return this.oneOf(value, path, SEVERITIES, 'a severity');
  }

  /** Milliseconds; `positive` rejects 0. */
  duration(value: unknown, path: KeyPath, positive: boolean): number {
    const accepted = positive ? `${DURATION_FORM}, more than 0` : DURATION_FORM;
    if (typeof value === 'number' && value < 0)
      this.fail(path, 'negative duration', accepted, value);
    if (typeof value === 'string' && value.trim().startsWith('-'))
      this.fail(path, 'negative duration', accepted, value);
    const ms = parseDuration(value);
    if (ms === undefined) this.fail(path, 'not a duration', accepted, value);
    if (positive && ms === 0) this.fail(path, 'zero duration', accepted, value);
    return ms;
  }

  integer(value: unknown, path: KeyPath, min: number, max: number): number {
    const accepted = `a whole number from ${min} to ${max}`;
    if (typeof value !== 'number' || !Number.isInteger(value))
      this.fail(path, 'not a whole number', accepted, value);
    if (value < 0 && min >= 0) this.fail(path, 'negative number', accepted, value);
    if (value < min || value > max) this.fail(path, 'out of range', accepted, value);
    return value;
  }

  glob(value: unknown, path: KeyPath): string {
    const s = this.string(value, path, GLOB_FORM);
    const problem = globProblem(s);
    if (problem !== undefined) this.fail(path, `bad glob: ${problem}`, GLOB_FORM, s);
    return s;
  }

  list(value: unknown, path: KeyPath, accepted: string, nonEmpty = true): unknown[] {
    if (!Array.isArray(value)) this.fail(path, `not a list (${kindOf(value)})`, accepted, value);
    if (nonEmpty && value.length === 0) this.fail(path, 'empty list', accepted, value);
    return value;
  }
}

export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `a ${typeof value}`;
}
