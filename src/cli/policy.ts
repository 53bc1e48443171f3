/**
 * `ckpt policy check FILE...`: validate policy files the way the daemon will load
 * them (src/policies loadPolicyFiles), naming the file, key and bad value.
 */
import { CliError, describeError, EXIT, UsageError } from './errors.js';
import { parseOptions } from './options.js';
import type { Verb } from './verb.js';

const HELP = `Usage: ckpt policy check [--quiet] FILE...

Check policy files (YAML or JSON) as the daemon loads them: the syntax, every
key and value against the policy schema, and the files together (e.g. duplicate
policy names). Prints one line per file; on the first error prints the file, the
key path, the bad value and what is accepted, and exits 1.

Options:
  -q, --quiet   print nothing when all files are good

Example:
  ckpt policy check /etc/ckpt/policies/*.yaml`;

type LoadPolicyFiles = (paths: string[]) => unknown;

async function loadPolicyLoader(): Promise<LoadPolicyFiles> {
  try {
    const specifier = '../policies/index.js';
    const mod = (await import(specifier)) as { loadPolicyFiles?: unknown };
    if (typeof mod.loadPolicyFiles !== 'function')
      throw new Error('src/policies exports no loadPolicyFiles');
    return mod.loadPolicyFiles as LoadPolicyFiles;
  } catch (err) {
    const why =
      (err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND'
        ? 'the policy loader (src/policies) is not in this build'
        : (err as Error).message;
    throw new CliError(`policy check is not available: ${why}`, EXIT.unavailable, { cause: err });
  }
}

function countPolicies(loaded: unknown): number | undefined {
  if (Array.isArray(loaded)) return loaded.length;
  const p = (loaded as { policies?: unknown } | null)?.policies;
  return Array.isArray(p) ? p.length : undefined;
}

export const verb: Verb = {
  name: 'policy',
  summary: 'check policy files (policy check FILE...)',
  help: HELP,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub !== 'check') {
      throw new UsageError(
        sub === undefined
          ? "missing subcommand: 'policy check FILE...'"
          : `unknown subcommand 'policy ${sub}'; try 'policy check FILE...'`,
      );
    }
    const parsed = parseOptions(rest, [{ long: 'quiet', short: 'q' }]);
    if (parsed.positionals.length === 0)
      throw new UsageError('missing the policy FILE(s) to check');
    const loadPolicyFiles = await loadPolicyLoader();
    let loaded: unknown;
    try {
      loaded = await loadPolicyFiles(parsed.positionals);
    } catch (err) {
      throw new CliError(describeError(err), EXIT.failure, { cause: err });
    }
    if (!parsed.options.length) {
      const n = countPolicies(loaded);
      process.stdout.write(
        `ok: ${parsed.positionals.length} file(s)${n === undefined ? '' : `, ${n} polic${n === 1 ? 'y' : 'ies'}`}\n`,
      );
    }
    return 0;
  },
};
