/**
 * Checkpoint/restart benchmark (run on demand: `node dist/bench/checkpoint.js`).
 *
 * A process with SIZE_MIB (default 1024) of dirty anonymous memory (the
 * `memory` test program: heap + 64 MiB mmap, filled first, which also warms
 * the guest's memory), then per run:
 *   checkpoint with after=cont (BLCR's default) to a fresh file: wall (with
 *   the fsync) and frozen time (until its memory is written), then removed;
 *   checkpoint (after=kill) to a fresh file: wall, frozen, image size;
 *   dd writing the same number of bytes with conv=fsync to the same directory;
 *   read-back of the image warm (page cache), then a restart from it (until
 *   the restored process runs), which is killed again;
 *   read-back cold (after drop_caches, when this machine lets us), then a
 *   restart from a cold cache, which the next run checkpoints.
 * CKPT_RESTORE_NO_UFFD=1 measures the restart without userfaultfd.
 * Prints each run and the median ratios against the goals (checkpoint <=
 * 1.10 x dd write; restart <= 1.5 x read-back).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AFTER, checkpoint, restart, wait } from '../src/engine/libckpt.js';
import { CLOSE_FDS } from './closefds.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SIZE = Number(process.env.SIZE_MIB ?? 1024);
const RUNS = Number(process.env.RUNS ?? 3);
const DIR = mkdtempSync(join(process.env.BENCH_DIR ?? '/var/tmp', 'ckpt-bench-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const secs = (ns: bigint) => Number(ns) / 1e9;

function timed(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return secs(process.hrtime.bigint() - t0);
}

function dropCaches(): boolean {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

async function launch(): Promise<number> {
  const out = join(DIR, 'target.out');
  const fd = openSync(out, 'w');
  spawn(
    'setsid',
    ['-f', ...CLOSE_FDS, join(REPO, 'native', 'build', 'progs', 'memory'), String(SIZE - 64)],
    { stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  for (;;) {
    const m = /READY (\d+)/.exec(readFileSync(out, 'utf8'));
    if (m) return Number(m[1]);
    await sleep(50);
  }
}

const rows: {
  contCp: number;
  contFrozen: number;
  cp: number;
  frozen: number;
  dd: number;
  rsWarm: number;
  rsCold?: number;
  warm: number;
  cold?: number;
  bytes: number;
}[] = [];
let pid = await launch();
console.log(
  `target: ${SIZE} MiB dirty anonymous memory (filled before the first run), files in ${DIR}`,
);
for (let run = 0; run < RUNS; run++) {
  const image = join(DIR, `img.${run}`);
  const contImage = join(DIR, 'cont.img');
  const tc = process.hrtime.bigint();
  const rc = await checkpoint(pid, contImage, { after: AFTER.cont });
  const contCp = secs(process.hrtime.bigint() - tc);
  const contFrozen = rc.frozenNs / 1e9;
  rmSync(contImage, { force: true });
  const t0 = process.hrtime.bigint();
  const r = await checkpoint(pid, image, { after: AFTER.kill });
  const cp = secs(process.hrtime.bigint() - t0);
  const bytes = statSync(image).size;
  const ddFile = join(DIR, 'dd.out');
  const dd = timed(() => {
    spawnSync(
      'dd',
      [
        'if=/dev/zero',
        `of=${ddFile}`,
        'bs=4M',
        `count=${Math.ceil(bytes / 4194304)}`,
        'conv=fsync',
      ],
      { stdio: 'ignore' },
    );
  });
  rmSync(ddFile, { force: true });
  while (existsSync(`/proc/${pid}`)) await sleep(20);
  // after=kill writes the image past the page cache (O_DIRECT): read it once
  // so that "warm" means in the page cache, as it did before
  spawnSync('cat', [image], { stdio: ['ignore', 'ignore', 'ignore'] });
  const warm = timed(() => {
    spawnSync('cat', [image], { stdio: ['ignore', 'ignore', 'ignore'] });
  });
  // Restart with the image in the page cache, then again from a cold cache.
  let t1 = process.hrtime.bigint();
  let rr = await restart(image);
  const rsWarm = secs(process.hrtime.bigint() - t1);
  process.kill(rr.pid, 'SIGKILL');
  await wait(rr.waiterPid).catch(() => 0);
  while (existsSync(`/proc/${rr.pid}`)) await sleep(20);
  let cold: number | undefined;
  let rsCold: number | undefined;
  if (dropCaches()) {
    cold = timed(() => {
      spawnSync('cat', [image], { stdio: ['ignore', 'ignore', 'ignore'] });
    });
    dropCaches();
  }
  t1 = process.hrtime.bigint();
  rr = await restart(image);
  if (cold !== undefined) rsCold = secs(process.hrtime.bigint() - t1);
  pid = rr.pid;
  wait(rr.waiterPid).catch(() => 0);
  rows.push({
    contCp,
    contFrozen,
    cp,
    frozen: r.frozenNs / 1e9,
    dd,
    rsWarm,
    rsCold,
    warm,
    cold,
    bytes,
  });
  console.log(
    `run ${run + 1}: image ${(bytes / 2 ** 20).toFixed(0)} MiB; checkpoint after=cont ${contCp.toFixed(3)} s (frozen ${contFrozen.toFixed(3)} s); checkpoint ${cp.toFixed(3)} s (frozen ${(r.frozenNs / 1e9).toFixed(3)} s), dd write+fsync ${dd.toFixed(3)} s; restart warm ${rsWarm.toFixed(3)} s${rsCold !== undefined ? ` cold ${rsCold.toFixed(3)} s` : ''}, read-back warm ${warm.toFixed(3)} s${cold !== undefined ? ` cold ${cold.toFixed(3)} s` : ''}`,
  );
  rmSync(join(DIR, `img.${run - 1}`), { force: true });
}
process.kill(pid, 'SIGKILL');
const cpRatio = median(rows.map((r) => r.cp / r.dd));
const warmRatio = median(rows.map((r) => r.rsWarm / r.warm));
console.log(
  `checkpoint after=cont / dd write (median): ${median(rows.map((r) => r.contCp / r.dd)).toFixed(2)}; frozen ${median(rows.map((r) => r.contFrozen)).toFixed(3)} s of ${median(rows.map((r) => r.contCp)).toFixed(3)} s`,
);
console.log(
  `checkpoint / dd write (median): ${cpRatio.toFixed(2)} (goal <= 1.10: ${cpRatio <= 1.1 ? 'met' : 'NOT met'})`,
);
console.log(
  `frozen (median): ${median(rows.map((r) => r.frozen)).toFixed(3)} s of ${median(rows.map((r) => r.cp)).toFixed(3)} s (after=kill waits for the fsync; with --cont the target runs again before it)`,
);
console.log(
  `restart / read-back, image in the page cache (median): ${warmRatio.toFixed(2)} (goal <= 1.5: ${warmRatio <= 1.5 ? 'met' : 'NOT met'})`,
);
if (rows.every((r) => r.cold !== undefined && r.rsCold !== undefined)) {
  const coldRatio = median(rows.map((r) => (r.rsCold as number) / (r.cold as number)));
  console.log(
    `restart / read-back, cold cache (median): ${coldRatio.toFixed(2)} (goal <= 1.5: ${coldRatio <= 1.5 ? 'met' : 'NOT met'})`,
  );
}
rmSync(DIR, { recursive: true, force: true });
