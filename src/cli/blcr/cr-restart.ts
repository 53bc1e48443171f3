/** `cr_restart [options] FILE` (BLCR-compatible): restart, wait, exit with its status. */
import { describeError } from '../errors.js';
import { restartLocally, runFailureHook } from '../local-restart.js';
import { runEntryPoint } from '../main.js';
import { parseRestartArgs, type RestartPlan } from './restart-options.js';
import { CR_RESTART_USAGE } from './usage.js';
import { printVersion } from './version.js';

export async function crRestart(argv: readonly string[]): Promise<number> {
  let plan: RestartPlan | undefined;
  try {
    const result = parseRestartArgs(argv);
    plan = result.plan;
    if (!plan) {
      if (result.parsed.options.some((o) => o.name === 'help')) {
        process.stdout.write(CR_RESTART_USAGE);
        return 0;
      }
      return printVersion('cr_restart');
    }
    const verbose = plan.verbose && !plan.quiet;
    return await restartLocally(plan, {
      label: 'cr_restart',
      onRestored: (s) => {
        if (verbose) process.stderr.write(`cr_restart: restored process ${s.pid}\n`);
      },
    });
  } catch (err) {
    // --run-on-fail-args needs the options even when the arguments were bad
    runFailureHook(plan ?? salvagePlan(argv), err, describeError(err));
    throw err;
  }
}

/** The --run-on-fail-* commands of a command line that did not parse as a whole. */
function salvagePlan(argv: readonly string[]): RestartPlan | undefined {
  const plan: RestartPlan = {
    source: { kind: 'fd', fd: -1 },
    restorePid: true,
    restorePgid: false,
    restoreSid: false,
    relocate: [],
    after: { kind: 'run' },
    runOnFail: {},
    quiet: false,
    verbose: false,
  };
  let found = false;
  for (let i = 0; i < argv.length; i++) {
    const m = /^--run-on-(failure|fail-args|fail-temp|fail-env|fail-perm)(?:=(.*))?$/.exec(
      argv[i] ?? '',
    );
    if (!m) continue;
    const value = m[2] ?? argv[++i];
    if (value === undefined) continue;
    found = true;
    if (m[1] === 'failure') plan.runOnFailure = value;
    else plan.runOnFail[(m[1] as string).slice('fail-'.length) as 'args'] = value;
  }
  return found ? plan : undefined;
}

export function start(argv: readonly string[]): Promise<never> {
  return runEntryPoint(
    'cr_restart',
    () => crRestart(argv),
    () => CR_RESTART_USAGE,
  );
}
