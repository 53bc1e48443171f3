/**
 * A real local user for tests that act as one (useradd, with a group of its
 * own, no home), made in test.before and removed with its processes in
 * test.after.always:
 *
 *   const USER = useTestUser(test, 'ckptx');   // top level of a test file
 */
import { execFileSync } from 'node:child_process';
import type { TestFn } from 'ava';

/** A user's uid (-u) or primary gid (-g). */
export const idOf = (flag: '-u' | '-g', user: string) =>
  Number(execFileSync('id', [flag, user], { encoding: 'utf8' }).trim());

/** Registers the hooks; the name is prefix + this process's pid (runs do not collide). */
export function useTestUser(test: TestFn, prefix: string): string {
  const user = `${prefix}${process.pid % 100000}`;
  test.before(() => {
    execFileSync('useradd', [
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      '--user-group',
      user,
    ]);
  });
  test.after.always(() => {
    try {
      execFileSync('pkill', ['-KILL', '-u', user]);
    } catch {}
    try {
      execFileSync('userdel', [user]);
    } catch {}
  });
  return user;
}
