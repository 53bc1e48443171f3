/**
 * Bad input to the daemon's command-line faces: `ckpt daemon` options and
 * config files, `ckpt run` and `ckpt attach` arguments and a missing daemon.
 * Each is one line on stderr naming what was wrong, a documented exit code,
 * and nothing started.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { isOneLineError, runCli } from '../cli/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'ckpt-daemon-cli-'));

test('ckpt daemon --print-config: defaults < file < environment < arguments', async (t) => {
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ node: 'from-file', retain: 7, concurrency: 3 }));
  const r = await runCli(
    'ckpt',
    ['daemon', '--config', file, '--concurrency', '2', '--print-config'],
    {
      env: { CKPT_RETAIN: '5' },
    },
  );
  t.is(r.code, 0, r.stderr);
  const cfg = JSON.parse(r.stdout) as {
    node: string;
    retain: number;
    concurrency: number;
    imageDir: string;
    stateDir: string;
  };
  t.is(cfg.node, 'from-file');
  t.is(cfg.retain, 5, 'environment over file');
  t.is(cfg.concurrency, 2, 'argument over environment and file');
  t.is(cfg.imageDir, `${cfg.stateDir}/images`);
});

test('ckpt daemon: bad options and config files are one-line errors, exit 2', async (t) => {
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ nodes: 'typo' }));
  const notJson = join(dir, 'not.json');
  writeFileSync(notJson, '{ node: ');
  const cases: [string[], RegExp][] = [
    [['--concurrency', 'many'], /concurrency/],
    [['--node', 'a.b'], /node.*subject-safe token/],
    [['--log-level', 'loud'], /log\.level/],
    [['--config', bad], /nodes/],
    [['--config', notJson], /not\.json|JSON|Unexpected/i],
    [['--config', join(dir, 'missing.json')], /missing\.json|ENOENT/],
    [['--frobnicate'], /unknown option '--frobnicate'/],
    [['stray'], /unexpected argument 'stray'/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli('ckpt', ['daemon', ...args, '--print-config']);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.true(isOneLineError(r, 'ckpt'), r.stderr);
    t.regex(r.stderr, re, args.join(' '));
  }
});

test('ckpt run / attach: bad arguments and no daemon are one-line errors; nothing runs', async (t) => {
  const marker = join(dir, 'ran');
  const env = { CKPT_STATE_DIR: join(dir, 'no-daemon-here'), CKPT_BUS_URL: '', CKPT_NODE: '' };
  const cases: [string, string[], number, RegExp][] = [
    ['run', ['--', 'sh', '-c', `touch ${marker}`], 3, /no local daemon found/],
    ['run', ['--job', 'a b', '--', 'true'], 2, /--job 'a b'/],
    ['run', ['--job', 'j'], 2, /no program given/],
    ['run', ['--job', 'j', '--', 'sh', '-c', `touch ${marker}`], 3, /no local daemon found/],
    ['attach', ['--job', 'j'], 2, /exactly one PID/],
    ['attach', ['--job', 'j', 'x'], 2, /PID/],
    ['attach', ['--job', 'j', '1234'], 3, /no local daemon found/],
  ];
  for (const [verb, args, code, re] of cases) {
    const r = await runCli('ckpt', [verb, ...args], { env });
    t.is(r.code, code, `${verb} ${args.join(' ')}: ${r.stderr}`);
    t.true(isOneLineError(r, 'ckpt'), r.stderr);
    t.regex(r.stderr, re, `${verb} ${args.join(' ')}`);
  }
  const { existsSync } = await import('node:fs');
  t.false(existsSync(marker), 'the program never started without a daemon');
});
