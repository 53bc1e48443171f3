/**
 * The engine choice (issue 13): --engine kernel|user|auto on checkpoint and
 * restart (ckpt, cr_checkpoint, cr_restart), `engine` in the daemon's config,
 * and what `ckpt status` says. On this host there is no /dev/ckpt (no module
 * loading), so auto must fall back to the user engine and say why, and an
 * explicit kernel must refuse clearly, leaving the target untouched. The
 * kernel engine itself is tested in the VM (native/tests/kernel_dump_test.c).
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { parseCheckpointArgs } from '../../src/cli/blcr/checkpoint-options.js';
import { parseRestartArgs } from '../../src/cli/blcr/restart-options.js';
import { UsageError } from '../../src/cli/errors.js';
import { loadConfig } from '../../src/daemon/config.js';
import { engineStatus } from '../../src/shared/engine-choice.js';
import { runCli } from './run-cli.js';
import { advancing, count, procState, startCounter } from './targets.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-engine-'));
const hasDevice = existsSync('/dev/ckpt');

test('cr_checkpoint and cr_restart take --engine kernel|user|auto; anything else is a usage error', (t) => {
  t.is(parseCheckpointArgs(['42']).plan?.engine, undefined);
  for (const e of ['kernel', 'user', 'auto'] as const) {
    t.is(parseCheckpointArgs(['--engine', e, '42']).plan?.engine, e);
    t.is(parseCheckpointArgs([`--engine=${e}`, '42']).plan?.engine, e);
    t.is(parseRestartArgs(['--engine', e, 'ctx']).plan?.engine, e);
  }
  const bad = t.throws(() => parseCheckpointArgs(['--engine', 'ptrace', '42']), {
    instanceOf: UsageError,
  });
  t.regex(bad?.message ?? '', /--engine must be kernel, user or auto, got 'ptrace'/);
  t.throws(() => parseRestartArgs(['--engine', '', 'ctx']), { instanceOf: UsageError });
  t.throws(() => parseCheckpointArgs(['--engine']), { instanceOf: UsageError });
});

test('engineStatus: what each choice means given what the probe found', (t) => {
  const absent = {
    backends: {
      kernel: { available: false, reason: '/dev/ckpt not present (ckpt.ko not loaded)' },
    },
    auto: { engine: 'user', why: '/dev/ckpt not present (ckpt.ko not loaded)' },
  };
  const present = {
    backends: { kernel: { available: true } },
    auto: { engine: 'kernel', why: "/dev/ckpt is present and speaks this library's ABI" },
  };
  t.deepEqual(engineStatus('auto', absent), {
    configured: 'auto',
    inUse: 'user',
    why: 'auto: /dev/ckpt not present (ckpt.ko not loaded)',
  });
  t.is(engineStatus('auto', present).inUse, 'kernel');
  t.is(engineStatus('user', present).inUse, 'user');
  t.is(engineStatus('kernel', present).inUse, 'kernel');
  const k = engineStatus('kernel', absent);
  t.is(k.inUse, 'none');
  t.regex(k.why, /not present .*checkpoints fail until ckpt\.ko is loaded/);
});

test('the daemon config: engine defaults to auto, takes CKPT_ENGINE and --engine, refuses others by name', (t) => {
  const env = { CKPT_STATE_DIR: scratch };
  t.is(loadConfig({ env }).engine, 'auto');
  t.is(loadConfig({ env: { ...env, CKPT_ENGINE: 'kernel' } }).engine, 'kernel');
  t.is(loadConfig({ env, args: ['--engine', 'user'] }).engine, 'user');
  const err = t.throws(() => loadConfig({ env: { ...env, CKPT_ENGINE: 'fast' } }));
  t.regex(err?.message ?? '', /engine/);
  t.regex(err?.message ?? '', /fast/);
});

test('ckpt status names the engine auto uses here and why', async (t) => {
  const r = await runCli('ckpt', ['status']);
  t.is(r.code, 0, r.stderr);
  if (hasDevice) t.regex(r.stdout, /^engine: kernel \(auto: /m);
  else t.regex(r.stdout, /^engine: user \(auto: \/dev\/ckpt not present \(ckpt\.ko not loaded\)/m);
  const j = await runCli('ckpt', ['status', '--json']);
  const probe = JSON.parse(j.stdout).libckpt;
  t.is(probe.auto.engine, hasDevice ? 'kernel' : 'user');
  t.is(probe.backends.kernel.available, hasDevice);
});

test.serial(
  'without /dev/ckpt: --engine kernel refuses naming the device, the target runs on; auto and the default fall back to user',
  async (t) => {
    if (hasDevice) {
      t.pass('this host has /dev/ckpt: the refusal is not reachable here');
      return;
    }
    const target = startCounter(join(scratch, 'fallback'));
    t.teardown(() => target.proc.kill('SIGKILL'));
    t.true(await advancing(target.countFile));
    const img = join(scratch, 'k.img');
    const k = await runCli('ckpt', [
      'checkpoint',
      '--engine',
      'kernel',
      '-f',
      img,
      String(target.pid),
    ]);
    t.not(k.code, 0);
    t.regex(k.stderr, /kernel engine: \/dev\/ckpt not present \(ckpt\.ko not loaded\)/);
    t.false(existsSync(img), 'no image written');
    t.regex(procState(target.pid) ?? '', /^[RS]$/, 'not stopped, not traced');
    t.true(await advancing(target.countFile), 'the target runs on');

    const cr = await runCli('cr_checkpoint', ['--engine', 'kernel', '-f', img, String(target.pid)]);
    t.not(cr.code, 0);
    t.regex(cr.stderr, /\/dev\/ckpt not present/);

    for (const args of [['--engine', 'auto'], [], ['--engine', 'user']]) {
      const a = await runCli('ckpt', [
        'checkpoint',
        ...args,
        '--json',
        '-f',
        img,
        String(target.pid),
      ]);
      t.is(a.code, 0, a.stderr);
      t.is(JSON.parse(a.stdout).engine, 'user', `${args.join(' ')}: the user engine did it`);
    }
    const text = await runCli('ckpt', ['checkpoint', '-f', img, String(target.pid)]);
    t.regex(text.stdout, /frozen [\d.]+ ms, user engine\)/);
    t.true(await advancing(target.countFile));
  },
);

test('restart --engine kernel: with CAP_CHECKPOINT_RESTORE (root here) the module is not needed and the PID comes back; a bad value is a usage error', async (t) => {
  const img = join(scratch, 'kernel-restart.img');
  const target = startCounter(join(scratch, 'kernel-restart'), 150);
  t.true(await advancing(target.countFile));
  const cp = await runCli('ckpt', [
    'checkpoint',
    '--engine',
    'user',
    '--kill',
    '-f',
    img,
    String(target.pid),
  ]);
  t.is(cp.code, 0, cp.stderr);
  await target.exited;
  for (const [prog, args] of [
    ['ckpt', ['restart', '--engine', 'kernel', '--pid-file', `${img}.pid`, img]],
    ['cr_restart', ['--engine', 'kernel', img]],
  ] as const) {
    const rs = await runCli(prog, [...args]);
    t.not(rs.code, 3, `${prog}: not refused: ${rs.stderr}`);
    t.notRegex(rs.stderr, /no restart of its own/);
    t.is(rs.code, 7, `${prog}: the counter ran to its end and exited 7: ${rs.stderr}`);
    t.is(await count(target.countFile), 150);
  }
  t.is(readFileSync(`${img}.pid`, 'utf8').trim(), String(target.pid), 'the same PID');
  const bad = await runCli('ckpt', ['restart', '--engine', 'fast', img]);
  t.is(bad.code, 2, bad.stderr);
  t.regex(bad.stderr, /--engine must be kernel, user or auto, got 'fast'/);
  const bus = await runCli('ckpt', ['checkpoint', '--engine', 'user', '--job', 'j1']);
  t.is(bus.code, 2, bus.stderr);
  t.regex(bus.stderr, /--engine is for local checkpoints/);
});
