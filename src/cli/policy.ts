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
policy names). Prints one line per file (\`ok: FILE: N policies\`); on the first
error prints the file, the key path, the bad value and what is accepted, and
exits 1.

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

/** Policies per file, from each policy's origin ('FILE policies[N]'). */
function perFile(loaded: unknown, file: string): number | undefined {
  const p = (loaded as { policies?: unknown } | null)?.policies;
  if (!Array.isArray(p)) return undefined;
  return p.filter((x) => {
    const origin = (x as { origin?: unknown }).origin;
    return typeof origin === 'string' && origin.startsWith(`${file} `);
  }).length;
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
      for (const file of parsed.positionals) {
        const n = perFile(loaded, file);
        process.stdout.write(
          `ok: ${file}${n === undefined ? '' : `: ${n} polic${n === 1 ? 'y' : 'ies'}`}\n`,
        );
      }
    }
    return 0;
  },
};
