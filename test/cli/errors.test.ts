/**
 * Bad input to every command: non-zero exit, exactly one line `program: ...` on
 * stderr (BLCR commands add their usage text for usage errors), never a stack.
 * Real processes, real files, another user through setpriv.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { isOneLineError, runCli } from './run-cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-cli-errors-'));
chmodSync(scratch, 0o755);
const notAnImage = join(scratch, 'not-an-image');
writeFileSync(notAnImage, 'hello, I am a text file\n');
chmodSync(notAnImage, 0o644);
const readOnlyDir = join(scratch, 'read-only');
mkdirSync(readOnlyDir);
chmodSync(readOnlyDir, 0o555);

/** A sleeping process owned by root (the test runs as root). */
function sleeper(): { pid: number; stop(): void } {
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  return { pid: child.pid as number, stop: () => child.kill('SIGKILL') };
}

const ONE_LINE: [string, string[], RegExp][] = [
  ['ckpt', ['frobnicate'], /unknown command 'frobnicate'/],
  ['ckpt', ['--frob'], /unknown option '--frob'/],
  ['ckpt', ['checkpoint', '--frob', '1'], /unknown option '--frob'.*ckpt checkpoint --help/],
  ['ckpt', ['checkpoint'], /missing the PID/],
  ['ckpt', ['checkpoint', 'abc'], /PID must be an integer/],
  ['ckpt', ['checkpoint', '--scope', 'galaxy', '1'], /--scope must be one of/],
  ['ckpt', ['checkpoint', '4194000'], /no such process: 4194000/],
  ['ckpt', ['restart'], /missing the context FILE/],
  ['ckpt', ['restart', '/nonexistent/ctx'], /no such context file/],
  ['ckpt', ['restart', notAnImage], /is not a ckpt context file/],
  ['ckpt', ['restart', '--relocate', 'a=b', notAnImage], /absolute paths/],
  ['ckpt', ['inspect', notAnImage], /is not a ckpt context file/],
  ['ckpt', ['inspect'], /missing the context FILE/],
  ['ckpt', ['inspect', scratch], /is a directory/],
  ['ckpt', ['publish', '--type', 'x.y'], /missing --node/],
  [
    'ckpt',
    ['publish', '--node', 'n1', '--type', 'x.y', '--severity', 'dire'],
    /--severity must be one of/,
  ],
  [
    'ckpt',
    ['publish', '--node', 'n1', '--type', 'x.y', '--data', '{oops'],
    /--data must be a JSON object/,
  ],
  [
    'ckpt',
    ['publish', '--node', 'n1', '--type', 'x.y', '--data', '[1]'],
    /--data must be a JSON object/,
  ],
  ['ckpt', ['publish', '--node', 'bad.node', '--type', 'x.y'], /--node must be/],
  [
    'ckpt',
    ['publish', '--node', 'n1', '--type', 'x.y', '--bus', 'http://x'],
    /--bus must be a NATS URL/,
  ],
  [
    'ckpt',
    ['jobs', '--state-dir', '/nonexistent/st'],
    /no local daemon found \(\/nonexistent\/st\/daemon\.json missing\)/,
  ],
  ['ckpt', ['monitor', '--interval', '0'], /--interval must be a number/],
  [
    'ckpt',
    ['monitor', '--psi-cpu', '120', '--dry-run'],
    /--psi-cpu must be a number from 0 to 100/,
  ],
  ['ckpt', ['policy'], /missing subcommand/],
  ['ckpt', ['policy', 'frob'], /unknown subcommand/],
  ['ckpt', ['policy', 'check'], /missing the policy FILE/],
  ['cr_checkpoint', ['4194000'], /no such process: 4194000/],
  ['cr_checkpoint', ['--save-all', '1'], /--save-all is not supported yet/],
  ['cr_checkpoint', ['--ptraced-allow', '1'], /--ptraced-allow is not supported yet/],
  ['cr_checkpoint', ['--ptracer-skip', '1'], /--ptracer-skip is not supported yet/],
  ['cr_checkpoint', ['-F', '77', '1'], /descriptor 77 is not open/],
  ['cr_restart', ['/nonexistent/ctx'], /no such context file/],
  ['cr_restart', [notAnImage], /is not a ckpt context file/],
  ['cr_restart', ['-F', '77'], /descriptor 77 is not open/],
  ['cr_run', ['/nonexistent/program'], /cannot run '\/nonexistent\/program': not found/],
  ['cr_run', [notAnImage], /permission denied or not a file/],
];

for (const [program, args, message] of ONE_LINE) {
  test(`${program} ${args.join(' ')}: one-line error`, async (t) => {
    const r = await runCli(program, args);
    t.not(r.code, 0);
    t.true(isOneLineError(r, program), `stderr was:\n${r.stderr}`);
    t.regex(r.stderr, message);
  });
}

const BLCR_USAGE: [string, string[], RegExp][] = [
  ['cr_checkpoint', ['--frob', '1'], /unknown option '--frob'/],
  ['cr_checkpoint', ['-x', '1'], /unknown option '-x'/],
  ['cr_checkpoint', [], /missing the ID/],
  ['cr_checkpoint', ['1', '2'], /expected one ID/],
  ['cr_checkpoint', ['-f'], /requires an argument/],
  ['cr_checkpoint', ['-S', 'NOPE', '1'], /signal number/],
  ['cr_checkpoint', ['-f', 'a', '-F', '3', '1'], /choose one destination/],
  ['cr_restart', ['--frob'], /unknown option '--frob'/],
  ['cr_restart', [], /missing the context FILE/],
  ['cr_restart', ['--relocate', 'noequals', 'f'], /needs OLD=NEW/],
  ['cr_restart', ['a', 'b'], /expected one context file/],
  ['cr_run', [], /missing the PROGRAM/],
  ['cr_run', ['--frob'], /unknown option '--frob'/],
];

for (const [program, args, message] of BLCR_USAGE) {
  test(`${program} ${args.join(' ')}: BLCR-style usage error`, async (t) => {
    const r = await runCli(program, args);
    t.is(r.code, 2);
    const [first, ...rest] = r.stderr.split('\n');
    t.regex(first ?? '', new RegExp(`^${program}: `));
    t.regex(first ?? '', message);
    t.regex(rest.join('\n'), new RegExp(`^Usage: ${program} `, 'm'), 'usage text follows');
    t.false(/\n\s+at /.test(r.stderr), 'no stack trace');
    t.is(r.stdout, '');
  });
}

test("checkpointing another user's process is refused in one line", async (t) => {
  const target = sleeper();
  try {
    for (const program of ['ckpt', 'cr_checkpoint']) {
      const args = program === 'ckpt' ? ['checkpoint', String(target.pid)] : [String(target.pid)];
      const r = await runCli(program, args, { asUser: 'nobody', cwd: '/tmp' });
      t.is(r.code, 1, r.stderr);
      t.true(isOneLineError(r, program), r.stderr);
      t.regex(
        r.stderr,
        new RegExp(`permission denied: process ${target.pid} belongs to uid 0, you are uid 65534`),
      );
    }
    t.notThrows(() => process.kill(target.pid, 0), 'the target is still alive');
  } finally {
    target.stop();
  }
});

test('an unwritable destination is refused before the target is touched', async (t) => {
  const target = sleeper();
  try {
    const file = join(readOnlyDir, 'ctx');
    // as nobody: a 0555 directory of root's; checkpoint nobody's own process
    const own = spawn(
      'setpriv',
      ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', 'sleep', '300'],
      {
        stdio: 'ignore',
      },
    );
    await new Promise((r) => setTimeout(r, 200));
    try {
      for (const program of ['ckpt', 'cr_checkpoint']) {
        const args =
          program === 'ckpt'
            ? ['checkpoint', '-f', file, String(own.pid)]
            : ['-f', file, String(own.pid)];
        const r = await runCli(program, args, { asUser: 'nobody', cwd: '/tmp' });
        t.is(r.code, 1, r.stderr);
        t.true(isOneLineError(r, program), r.stderr);
        t.regex(r.stderr, /is not writable \(EACCES\)/);
      }
    } finally {
      own.kill('SIGKILL');
    }
    // a destination whose directory does not exist, as root
    const r = await runCli('cr_checkpoint', ['-f', '/nonexistent-dir/ctx', String(target.pid)]);
    t.true(isOneLineError(r, 'cr_checkpoint'), r.stderr);
    t.regex(r.stderr, /directory \/nonexistent-dir does not exist/);
    const noclobber = await runCli('cr_checkpoint', [
      '--noclobber',
      '-f',
      notAnImage,
      String(target.pid),
    ]);
    t.true(isOneLineError(noclobber, 'cr_checkpoint'), noclobber.stderr);
    t.regex(noclobber.stderr, /exists \(--noclobber\)/);
  } finally {
    target.stop();
  }
});

test('CKPT_DEBUG=1 adds the stack, without it there is none', async (t) => {
  const plain = await runCli('ckpt', ['inspect', notAnImage]);
  t.false(plain.stderr.includes('    at '));
  const debug = await runCli('ckpt', ['inspect', notAnImage], { env: { CKPT_DEBUG: '1' } });
  t.true(debug.stderr.includes('    at '), debug.stderr);
});
