/**
 * A small getopt_long: short options (bundled `-kf FILE`, attached `-fFILE`), long
 * options (`--file FILE`, `--file=FILE`), long options with an optional value
 * (`--backup` or `--backup=NAME`, like BLCR), `--` ending options, and optionally
 * stopping at the first positional (for `cr_run PROGRAM ARGS...`).
 * node:util parseArgs has no optional values, hence this.
 */
import { UsageError } from './errors.js';

export interface OptionSpec {
  /** Long name without dashes, e.g. 'file'. */
  long: string;
  /** One-letter short name, e.g. 'f'. */
  short?: string;
  /** 'none' (a flag), 'required' (takes an argument), 'optional' (only as --long=VALUE). */
  arg?: 'none' | 'required' | 'optional';
  /** Name of the argument shown in messages, e.g. 'FILE'. */
  argName?: string;
}

/** One option as it appeared, in command-line order. */
export interface ParsedOption {
  name: string; // the long name
  value: string | undefined; // undefined for flags and omitted optional values
  spelled: string; // as typed, for messages: '-f' or '--file'
}

export interface ParsedArgs {
  options: ParsedOption[];
  positionals: string[];
}

export interface ParseSettings {
  /** Stop option processing at the first positional (the rest is positional). */
  stopAtPositional?: boolean;
}

export function parseOptions(
  argv: readonly string[],
  specs: readonly OptionSpec[],
  settings: ParseSettings = {},
): ParsedArgs {
  const byLong = new Map(specs.map((s) => [s.long, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short as string, s]));
  const options: ParsedOption[] = [];
  const positionals: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i] as string;
    i++;
    if (arg === '--') {
      positionals.push(...argv.slice(i));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const spec = byLong.get(name);
      if (!spec) throw new UsageError(`unknown option '--${name}'`);
      const kind = spec.arg ?? 'none';
      const spelled = `--${name}`;
      if (kind === 'none') {
        if (eq >= 0) throw new UsageError(`option '${spelled}' takes no argument`);
        options.push({ name, value: undefined, spelled });
      } else if (kind === 'optional') {
        options.push({ name, value: eq >= 0 ? arg.slice(eq + 1) : undefined, spelled });
      } else if (eq >= 0) {
        options.push({ name, value: arg.slice(eq + 1), spelled });
      } else {
        if (i >= argv.length) throw missingArgument(spelled, spec);
        options.push({ name, value: argv[i] as string, spelled });
        i++;
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // a bundle of short options: -kS 9 / -fFILE
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j] as string;
        const spec = byShort.get(letter);
        if (!spec) throw new UsageError(`unknown option '-${letter}'`);
        const spelled = `-${letter}`;
        if ((spec.arg ?? 'none') !== 'required') {
          options.push({ name: spec.long, value: undefined, spelled });
          continue;
        }
        let value = arg.slice(j + 1);
        if (value === '') {
          if (i >= argv.length) throw missingArgument(spelled, spec);
          value = argv[i] as string;
          i++;
        }
        options.push({ name: spec.long, value, spelled });
        break;
      }
      continue;
    }
    positionals.push(arg);
    if (settings.stopAtPositional) {
      positionals.push(...argv.slice(i));
      break;
    }
  }
  return { options, positionals };
}

function missingArgument(spelled: string, spec: OptionSpec): UsageError {
  return new UsageError(`option '${spelled}' requires an argument (${spec.argName ?? 'VALUE'})`);
}

/** True if a flag was given. */
export function has(parsed: ParsedArgs, name: string): boolean {
  return parsed.options.some((o) => o.name === name);
}

/** The last value given for an option (later ones override earlier ones, like getopt users). */
export function last(parsed: ParsedArgs, name: string): string | undefined {
  for (let k = parsed.options.length - 1; k >= 0; k--) {
    const o = parsed.options[k] as ParsedOption;
    if (o.name === name) return o.value;
  }
  return undefined;
}

/** Every value given for a repeatable option. */
export function all(parsed: ParsedArgs, name: string): string[] {
  return parsed.options
    .filter((o) => o.name === name && o.value !== undefined)
    .map((o) => o.value as string);
}

/** An integer within bounds, or a UsageError naming the option and the accepted form. */
export function parseInteger(
  text: string | undefined,
  what: string,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number {
  if (text === undefined || !/^[+]?\d+$/.test(text.trim())) {
    throw new UsageError(`${what} must be an integer from ${min} to ${max}, got '${text ?? ''}'`);
  }
  const n = Number(text);
  if (n < min || n > max) {
    throw new UsageError(`${what} must be an integer from ${min} to ${max}, got '${text}'`);
  }
  return n;
}

/** A number (may be fractional) within bounds. */
export function parseNumber(
  text: string | undefined,
  what: string,
  min: number,
  max = Infinity,
): number {
  const n = text === undefined || text.trim() === '' ? Number.NaN : Number(text);
  if (!Number.isFinite(n) || n < min || n > max) {
    const range = max === Infinity ? `>= ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`${what} must be a number ${range}, got '${text ?? ''}'`);
  }
  return n;
}

/** True if `--help`/`-h` appears before a `--`. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}
