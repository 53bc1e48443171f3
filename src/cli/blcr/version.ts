/** `--version` of the BLCR-compatible commands. */
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  try {
    const url = new URL('../../../../package.json', import.meta.url);
    return String(JSON.parse(readFileSync(url, 'utf8')).version);
  } catch {
    return 'unknown';
  }
}

export function printVersion(program: string): number {
  process.stdout.write(`${program} (ckpt ${packageVersion()}, BLCR-compatible)\n`);
  return 0;
}
