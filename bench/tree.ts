/**
 * Whole-job benchmark (run on demand: `node dist/bench/tree.js`).
 *
 * A tree of PROCS (default 16) processes with MIB_EACH (default 64) MiB of
 * dirty anonymous memory each (the memtree test program), against references
 * measured in the same run:
 *   checkpoint of the tree (after=cont: wall time includes the image's fsync)
 *   vs dd writing the same number of bytes with conv=fsync to the same
 *   directory (goal: ratio <= 1.15);
 *   the tree's frozen time vs that of one process holding the same memory
 *   (memtree 1 PROCS*MIB_EACH), checkpointed the same way (goal <= 1.2).
 * Prints each run and the median ratios. The memory is filled before the
 * first run (which also warms the guest's memory).
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AFTER, checkpoint, SCOPE } from '../src/engine/libckpt.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PROCS = Number(process.env.PROCS ?? 16);
const MIB = Number(process.env.MIB_EACH ?? 64);
const RUNS = Number(process.env.RUNS ?? 3);
const DIR = mkdtempSync(join(process.env.BENCH_DIR ?? '/var/tmp', 'ckpt-bench-tree-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const secs = (ns: bigint) => Number(ns) / 1e9;

async function launch(n: number, mib: number): Promise<number> {
  const out = join(DIR, `target-${n}.out`);
  const fd = openSync(out, 'w');
  spawn(
    'setsid',
    ['-f', join(REPO, 'native', 'build', 'progs', 'memtree'), String(n), String(mib)],
    {
      stdio: ['ignore', fd, fd],
    },
  );
  closeSync(fd);
  for (;;) {
    const m = /READY (\d+)/.exec(readFileSync(out, 'utf8'));
    if (m) return Number(m[1]);
    await sleep(50);
  }
}

async function measure(pid: number, scope: number, image: string) {
  const t0 = process.hrtime.bigint();
  const r = await checkpoint(pid, image, { after: AFTER.cont, scope });
  const wall = secs(process.hrtime.bigint() - t0);
  const bytes = statSync(image).size;
  rmSync(image, { force: true });
  return { wall, frozen: r.frozenNs / 1e9, bytes, processes: r.processes };
}

function dd(bytes: number): number {
  const file = join(DIR, 'dd.out');
  const t0 = process.hrtime.bigint();
  spawnSync(
    'dd',
    ['if=/dev/zero', `of=${file}`, 'bs=4M', `count=${Math.ceil(bytes / 4194304)}`, 'conv=fsync'],
    {
      stdio: 'ignore',
    },
  );
  const s = secs(process.hrtime.bigint() - t0);
  rmSync(file, { force: true });
  return s;
}

const tree = await launch(PROCS, MIB);
const one = await launch(1, PROCS * MIB);
console.log(
  `targets: a tree of ${PROCS} x ${MIB} MiB (pid ${tree}), one process of ${PROCS * MIB} MiB (pid ${one}); files in ${DIR}`,
);
const rows: { cp: number; dd: number; frozenTree: number; frozenOne: number; cpOne: number }[] = [];
for (let run = 0; run < RUNS; run++) {
  const t = await measure(tree, SCOPE.tree, join(DIR, 'tree.img'));
  const d = dd(t.bytes);
  const o = await measure(one, SCOPE.tree, join(DIR, 'one.img'));
  rows.push({ cp: t.wall, dd: d, frozenTree: t.frozen, frozenOne: o.frozen, cpOne: o.wall });
  console.log(
    `run ${run + 1}: tree ${t.processes} processes, image ${(t.bytes / 2 ** 20).toFixed(0)} MiB: checkpoint ${t.wall.toFixed(3)} s (frozen ${t.frozen.toFixed(3)} s); dd write+fsync ${d.toFixed(3)} s; one process: checkpoint ${o.wall.toFixed(3)} s (frozen ${o.frozen.toFixed(3)} s)`,
  );
}
for (const pid of [tree, one]) {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {}
}
const cpRatio = median(rows.map((r) => r.cp / r.dd));
const frozenRatio = median(rows.map((r) => r.frozenTree / r.frozenOne));
console.log(
  `tree checkpoint / dd write (median): ${cpRatio.toFixed(2)} (goal <= 1.15: ${cpRatio <= 1.15 ? 'met' : 'NOT met'})`,
);
console.log(
  `tree frozen / one process frozen (median): ${frozenRatio.toFixed(2)} (goal <= 1.2: ${frozenRatio <= 1.2 ? 'met' : 'NOT met'})`,
);
rmSync(DIR, { recursive: true, force: true });
