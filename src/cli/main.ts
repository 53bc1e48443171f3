/**
 * `ckpt <verb> [options]`: dispatch to a verb module, print help, and turn every
 * failure into one line `ckpt: <what is wrong>` on stderr with a documented exit
 * code (docs/cli.md). Stacks only with CKPT_DEBUG=1.
 */
import { readFileSync } from 'node:fs';
import { CliError, describeError, EXIT, UsageError } from './errors.js';
import { findVerb, loadVerb, VERBS } from './registry.js';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
    return String(pkg.version);
  } catch {
    return 'unknown';
  }
}

async function topHelp(): Promise<string> {
  const lines = [
    'Usage: ckpt <command> [options]',
    '',
    'Checkpoint/restart of unmodified Linux processes, and the node daemon of the',
    'ckpt fault-tolerance bus.',
    '',
    'Commands:',
  ];
  for (const entry of VERBS) {
    let summary: string;
    try {
      summary = (await loadVerb(entry)).summary;
    } catch {
      summary = `${entry.fallbackSummary} (not available in this build)`;
    }
    lines.push(`  ${entry.name.padEnd(12)}${summary}`);
  }
  lines.push(
    '',
    'Options:',
    "  -h, --help     show this help; `ckpt <command> --help` shows a command's help",
    '  -V, --version  print the version',
    '',
    'BLCR-compatible commands: cr_run, cr_checkpoint, cr_restart (see their --help).',
    'Exit codes: 0 success, 1 failure, 2 usage error, 3 component unavailable, 4 timeout;',
    "restart exits with the restored process's status. Set CKPT_DEBUG=1 for stack traces.",
  );
  return lines.join('\n');
}

/** Run `ckpt` with these arguments; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    process.stderr.write(`${await topHelp()}\n`);
    return EXIT.usage;
  }
  if (first === '-h' || first === '--help') {
    process.stdout.write(`${await topHelp()}\n`);
    return EXIT.ok;
  }
  if (first === '-V' || first === '--version') {
    process.stdout.write(`ckpt ${version()}\n`);
    return EXIT.ok;
  }
  if (first === 'help') {
    if (rest[0] === undefined) {
      process.stdout.write(`${await topHelp()}\n`);
      return EXIT.ok;
    }
    return main([rest[0], '--help']);
  }
  if (first.startsWith('-')) throw new UsageError(`unknown option '${first}' (try 'ckpt --help')`);
  const entry = findVerb(first);
  if (!entry) {
    throw new UsageError(
      `unknown command '${first}'; commands: ${VERBS.map((v) => v.name).join(', ')}`,
    );
  }
  const verb = await loadVerb(entry);
  if (rest.includes('--help') || rest.includes('-h')) {
    const cut = rest.indexOf('--');
    const helpAt = Math.max(rest.indexOf('--help'), rest.indexOf('-h'));
    // `ckpt run -- prog --help` belongs to prog; everything else is a help request
    if (cut < 0 || helpAt < cut) {
      process.stdout.write(`${verb.help.trimEnd()}\n`);
      return EXIT.ok;
    }
  }
  try {
    return await verb.run([...rest]);
  } catch (err) {
    if (err instanceof UsageError && !err.message.includes('--help')) {
      throw new UsageError(`${err.message} (see 'ckpt ${verb.name} --help')`, { cause: err });
    }
    throw err;
  }
}

/**
 * Run a command-line entry point and exit with its code. Errors become one line
 * `<program>: <message>`; usage errors add a hint; CKPT_DEBUG=1 adds the stack.
 */
export async function runEntryPoint(
  program: string,
  fn: () => Promise<number>,
  usageHint?: () => string,
): Promise<never> {
  let code: number;
  try {
    code = await fn();
  } catch (err) {
    code = reportError(program, err, usageHint);
  }
  process.exit(code);
}

export function reportError(program: string, err: unknown, usageHint?: () => string): number {
  process.stderr.write(`${program}: ${describeError(err)}\n`);
  if (process.env.CKPT_DEBUG === '1' && err instanceof Error) {
    process.stderr.write(`${err.stack ?? ''}\n`);
    if (err.cause instanceof Error) process.stderr.write(`cause: ${err.cause.stack ?? ''}\n`);
  }
  if (err instanceof UsageError) {
    if (usageHint) process.stderr.write(usageHint());
    return err.exitCode;
  }
  if (err instanceof CliError) return err.exitCode;
  return EXIT.failure;
}

/** The `ckpt` binary. */
export function start(argv: readonly string[]): Promise<never> {
  return runEntryPoint('ckpt', () => main(argv));
}
