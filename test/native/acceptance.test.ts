/**
 * Issue 2's acceptance list on real processes: each zdtm-shaped program
 * (test/native/progs) is started detached, checkpointed with after=kill,
 * restarted (same PID) and told to verify itself (SIGUSR1): it prints PASS
 * or what differs, and its exit status comes back through the restorer.
 * Through the koffi binding and through bin/ckpt.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { AFTER, checkpoint, inspect, restart, wait } from '../../src/engine/libckpt.js';
import { runCli } from '../cli/run-cli.js';
import {
  gone,
  launcher,
  PROGS,
  passes,
  SRC,
  sleep,
  type Target,
  until,
  within,
} from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-accept-'));

const launch = launcher(scratch);

/** Lines "0".."n-1" with no gap or repeat: n, or -1. A partial last line is ignored. */
function lines(file: string): number {
  if (!existsSync(file)) return 0;
  const all = readFileSync(file, 'utf8').split('\n');
  all.pop();
  for (let i = 0; i < all.length; i++) if (all[i] !== String(i)) return -1;
  return all.length;
}

/** Checkpoint (kill), restart with the same PID, SIGUSR1, expect PASS and exit 0. */
async function viaApi(
  t: ExecutionContext,
  target: Target,
  image: string,
  between?: () => Promise<void>,
) {
  const r = await checkpoint(target.pid, image, { after: AFTER.kill });
  t.true(r.bytes > 0 && r.threads >= 1, JSON.stringify(r));
  await until('killed and reaped', () => gone(target.pid));
  const rr = await restart(image);
  t.is(rr.pid, target.pid, 'same pid');
  await between?.();
  return passes(t, rr, target.out);
}

/** The same through bin/ckpt: checkpoint --kill -f, then restart in the foreground. */
async function viaCli(t: ExecutionContext, target: Target, image: string) {
  const cp = await runCli('ckpt', ['checkpoint', '--kill', '-f', image, String(target.pid)]);
  t.is(cp.code, 0, cp.stderr);
  await until('killed and reaped', () => gone(target.pid));
  const done = runCli('ckpt', ['restart', image]);
  await until('restored', () => !gone(target.pid), 10_000);
  await sleep(100);
  process.kill(target.pid, 'SIGUSR1');
  const rs = await within(done, 30_000, 'exit of ckpt restart');
  const out = readFileSync(target.out, 'utf8');
  t.is(rs.code, 0, `${rs.stderr}\n${out}`);
  t.regex(out, /^PASS$/m, out);
}

for (const variant of ['counter', 'counter-static']) {
  test.serial(
    `${variant}: lines continue with no gap or repeat, same PID, three cycles`,
    async (t) => {
      const file = join(scratch, `${variant}.lines`);
      const target = await launch(t, variant, [join(PROGS, variant), file]);
      const image = join(scratch, `${variant}.img`);
      let waiter = 0;
      for (let cycle = 0; cycle < 3; cycle++) {
        await until(`cycle ${cycle}: lines`, () => lines(file) > 10 * (cycle + 1));
        await checkpoint(target.pid, image, { after: AFTER.kill });
        if (waiter)
          t.is(
            await within(wait(waiter), 30_000, "the previous restorer's exit"),
            137,
            'the previous restorer reports the kill',
          );
        await until('reaped', () => gone(target.pid));
        const atKill = lines(file);
        t.true(atKill > 0, `no gap or repeat before cycle ${cycle}`);
        const rr = await restart(image);
        t.is(rr.pid, target.pid);
        waiter = rr.waiterPid;
        await until(`cycle ${cycle}: continues`, () => lines(file) > atKill + 5);
      }
      process.kill(target.pid, 'SIGUSR1');
      t.is(await within(wait(waiter), 30_000, 'exit after SIGUSR1'), 0);
      t.true(lines(file) > 30);
    },
  );
}

for (const prog of ['regs', 'amx', 'threads', 'signals', 'sleepers']) {
  for (const kind of ['', '-static']) {
    test.serial(`${prog}${kind} through the API`, async (t) => {
      const target = await launch(t, `${prog}${kind}`, [join(PROGS, `${prog}${kind}`)]);
      await sleep(100);
      const out = await viaApi(t, target, join(scratch, `${prog}${kind}.img`));
      const skipped = /^skipped: .*$/m.exec(out)?.[0];
      // AVX-512 (regs) and AMX run where the CPU has them; elsewhere they say so
      if (skipped) t.log(skipped);
    });
  }
}

test.serial('regs and threads through bin/ckpt', async (t) => {
  for (const prog of ['regs', 'threads']) {
    const target = await launch(t, `${prog}-cli`, [join(PROGS, prog)]);
    await sleep(100);
    await viaCli(t, target, join(scratch, `${prog}-cli.img`));
  }
});

test.serial('256 MiB of heap and 64 MiB of mmap data verified by checksum', async (t) => {
  const target = await launch(t, 'memory', [join(PROGS, 'memory'), '256']);
  const image = join(scratch, 'memory.img');
  await viaApi(t, target, image);
  t.true(statSync(image).size > 320 * 2 ** 20);
});

test.serial(
  'an open file read halfway continues at its offset; cwd and environment kept',
  async (t) => {
    const data = join(scratch, 'data.bin');
    writeFileSync(data, Buffer.concat([Buffer.alloc(4096, 'a'), Buffer.alloc(4096, 'b')]));
    const dir = join(scratch, 'workdir');
    mkdirSync(dir, { recursive: true });
    const target = await launch(t, 'files', [join(PROGS, 'files'), data, dir]);
    await viaApi(t, target, join(scratch, 'files.img'));
  },
);

test.serial(
  'a python3 script and a bash loop (builtins only) survive checkpoint/restart',
  async (t) => {
    for (const [name, argv] of [
      ['python', ['python3', join(SRC, 'counter.py')]],
      ['bash', ['bash', join(SRC, 'loop.sh')]],
    ] as const) {
      const file = join(scratch, `${name}.lines`);
      const target = await launch(t, name, [...argv, file]);
      await until(`${name} lines`, () => lines(file) > 5);
      let atKill = 0;
      await viaApi(t, target, join(scratch, `${name}.img`), async () => {
        atKill = lines(file);
        await until(`${name} continues`, () => lines(file) > atKill + 3);
      });
      t.true(lines(file) > atKill, `${name}: lines continue with no gap`);
    }
  },
);

test.serial('bad input: corrupted, truncated, not an image, no such pid, pid taken', async (t) => {
  const target = await launch(t, 'victim', [join(PROGS, 'counter'), join(scratch, 'victim.lines')]);
  const image = join(scratch, 'victim.img');
  await checkpoint(target.pid, image, { after: AFTER.cont });
  const info = (await inspect(image, { verify: true })) as {
    sections: { offset: number; type: string }[];
  };
  const size = statSync(image).size;
  const bad = join(scratch, 'bad.img');
  const refused = async (what: string, re: RegExp) => {
    const r = await runCli('ckpt', ['restart', bad]);
    t.not(r.code, 0, `${what}: non-zero exit`);
    t.regex(r.stderr, re, what);
    t.is(r.stderr.trim().split('\n').length, 1, `${what}: one line, no stack: ${r.stderr}`);
  };
  // the original still runs: its pid is taken
  copyFileSync(image, bad);
  await refused('pid taken', new RegExp(`pid ${target.pid} is in use.*--no-restore-pid`));
  for (const s of info.sections) {
    const buf = readFileSync(image);
    const at = s.offset + 20 + (s.type === 'PAGES' ? 5000 : 3);
    if (at >= size) continue;
    buf[at] = (buf[at] as number) ^ 0x40;
    writeFileSync(bad, buf);
    await refused(`flipped byte in ${s.type}`, /checksum|malformed|truncated/);
  }
  writeFileSync(bad, readFileSync(image).subarray(0, Math.floor(size / 2)));
  await refused('truncated', /truncated/);
  writeFileSync(bad, '#!/bin/sh\necho hello\n');
  await refused('not an image', /not a ckpt (image|context file)/);
  const nopid = await runCli('ckpt', ['checkpoint', '-f', join(scratch, 'x.img'), '3999999']);
  t.not(nopid.code, 0);
  t.regex(nopid.stderr, /no (such )?process:? 3999999/);
  t.false(existsSync(join(scratch, 'x.img')), 'no image written');
  t.false(gone(target.pid), 'the original keeps running through all of it');
});
