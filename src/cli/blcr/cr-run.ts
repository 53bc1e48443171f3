/** `cr_run PROGRAM ARGS...` (BLCR-compatible): exec PROGRAM under the same PID. */
import { UsageError } from '../errors.js';
import { runEntryPoint } from '../main.js';
import { parseOptions } from '../options.js';
import { execProgram } from './exec.js';
import { CR_RUN_USAGE } from './usage.js';
import { printVersion } from './version.js';

export async function crRun(argv: readonly string[]): Promise<number> {
  const parsed = parseOptions(argv, [{ long: 'help', short: '?' }, { long: 'version' }], {
    stopAtPositional: true,
  });
  if (parsed.options.some((o) => o.name === 'help')) {
    process.stdout.write(CR_RUN_USAGE);
    return 0;
  }
  if (parsed.options.some((o) => o.name === 'version')) return printVersion('cr_run');
  const [program, ...args] = parsed.positionals;
  if (program === undefined || program === '') throw new UsageError('missing the PROGRAM to run');
  return execProgram(program, args);
}

export function start(argv: readonly string[]): Promise<never> {
  return runEntryPoint(
    'cr_run',
    () => crRun(argv),
    () => CR_RUN_USAGE,
  );
}
