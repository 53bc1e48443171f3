/** `cr_checkpoint [options] ID` (BLCR-compatible), straight through libckpt. */

import { checkpointLocally } from '../local-checkpoint.js';
import { runEntryPoint } from '../main.js';
import { formatBytes } from '../progress.js';
import { describeAfter } from './after.js';
import { parseCheckpointArgs } from './checkpoint-options.js';
import { CR_CHECKPOINT_USAGE } from './usage.js';
import { printVersion } from './version.js';

export async function crCheckpoint(argv: readonly string[]): Promise<number> {
  const { parsed, plan } = parseCheckpointArgs(argv);
  if (!plan) {
    if (parsed.options.some((o) => o.name === 'help')) {
      process.stdout.write(CR_CHECKPOINT_USAGE);
      return 0;
    }
    return printVersion('cr_checkpoint');
  }
  const done = await checkpointLocally(plan, 'cr_checkpoint');
  if (plan.verbose && !plan.quiet) {
    const s = done.summary;
    process.stderr.write(
      `cr_checkpoint: ${done.path}: ${formatBytes(s.bytes)}, ${s.durationMs.toFixed(1)} ms, ` +
        `frozen ${s.frozenMs.toFixed(1)} ms; process ${plan.id} ${describeAfter(plan.after)}\n`,
    );
  }
  return 0;
}

export function start(argv: readonly string[]): Promise<never> {
  return runEntryPoint(
    'cr_checkpoint',
    () => crCheckpoint(argv),
    () => CR_CHECKPOINT_USAGE,
  );
}
