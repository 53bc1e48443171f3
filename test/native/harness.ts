/**
 * What the native acceptance tests share: where the built programs are, and
 * waiting for a condition or a promise with a limit that names what did not
 * happen.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The zdtm-shaped programs, built dynamic and -static by native/Makefile. */
export const PROGS = join(REPO, 'native', 'build', 'progs');
/** Their sources (and the scripts: .py, .mjs, .sh). */
export const SRC = join(REPO, 'test', 'native', 'progs');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll fn every 20 ms until it returns something truthy; fail naming `what` after ms. */
export async function until<T>(
  what: string,
  fn: () => T | undefined | false,
  ms = 20_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** p, or an error naming `what` if it takes longer than ms. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    sleep(ms).then(() => {
      throw new Error(`${what} did not happen within ${ms} ms`);
    }),
  ]);
}
