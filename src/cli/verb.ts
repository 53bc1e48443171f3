/**
 * The contract every `ckpt` verb module follows: `export const verb: Verb`.
 * run() returns the process exit code; it throws UsageError/CliError (errors.ts)
 * for bad input, which main.ts turns into one line on stderr.
 */
export interface Verb {
  name: string; // as typed after `ckpt`, e.g. 'checkpoint' or 'policy'
  summary: string; // one line for `ckpt --help`
  help: string; // full text for `ckpt <verb> --help`
  run(argv: string[]): Promise<number>;
}
