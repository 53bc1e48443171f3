/**
 * `ckpt inspect [--json] [--no-verify] FILE`: describe a context file from
 * libckpt's ckpt_inspect JSON: header, kernel and CPU, processes, threads, VMAs
 * with sizes, files, and section checksums (verified unless --no-verify).
 */
import { resolve } from 'node:path';
import { loadEngine } from './engine.js';
import { UsageError } from './errors.js';
import { checkImageFile } from './image-file.js';
import { renderInspection } from './inspect-render.js';
import { has, parseOptions } from './options.js';
import type { Verb } from './verb.js';

const HELP = `Usage: ckpt inspect [--json] [--no-verify] FILE

Describe a context file: its header (format version, when and where it was
written), the kernel and CPU features it needs, its processes and threads, the
memory areas (VMAs) with their sizes, the open files, and every section's
checksum. By default every checksum is verified (this reads the whole file); the
exit status is 1 if any does not match.

Options:
      --json        print libckpt's description as JSON (for scripts)
      --no-verify   only read the headers, do not verify the checksums

Example:
  ckpt inspect context.4242`;

export const verb: Verb = {
  name: 'inspect',
  summary: 'describe a context file (header, threads, memory, files, checksums)',
  help: HELP,
  async run(argv) {
    const parsed = parseOptions(argv, [{ long: 'json' }, { long: 'no-verify' }]);
    if (parsed.positionals.length !== 1) {
      throw new UsageError(
        parsed.positionals.length === 0
          ? 'missing the context FILE to inspect'
          : `expected one FILE, got ${parsed.positionals.join(' ')}`,
      );
    }
    const path = resolve(parsed.positionals[0] as string);
    checkImageFile(path);
    const verify = !has(parsed, 'no-verify');
    const engine = await loadEngine();
    const info = await engine.inspect(path, verify);
    const rendered = renderInspection(info, path);
    process.stdout.write(
      has(parsed, 'json') ? `${JSON.stringify(info, null, 2)}\n` : rendered.text,
    );
    return verify && rendered.badChecksums > 0 ? 1 : 0;
  },
};
