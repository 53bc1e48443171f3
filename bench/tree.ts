/**
 * Whole-job benchmark (run on demand: `node dist/bench/tree.js`).
 *
 * A tree of PROCS (default 16) processes with MIB_EACH (default 64) MiB of
 * dirty anonymous memory each (the memtree test program), against references
 * measured in the same run, on the same file system:
 *   checkpoint of the tree (after=cont: wall time includes the image's fsync)
 *   vs dd writing exactly the same number of bytes with conv=fsync, then an
 *   fsync of the directory (`sync DIR`), as the checkpoint does for the
 *   rename that installs the image (goal: ratio <= 1.15);
 *   the tree's frozen time vs that of one process holding the same memory
 *   (memtree 1 PROCS*MIB_EACH), checkpointed the same way through the same
 *   code (scope tree), so both frozen times cover the same steps: freeze,
 *   state, memory copied into the page cache; not the fsync (goal <= 1.2).
 * AFTER=stop checkpoints with after=stop instead (the processes are let go
 *   with SIGCONT after each): the targets stay frozen until the image is
 *   durable, and the image is written past the page cache (O_DIRECT), as for
 *   every after-action but cont.
 *
 * The machine is shared and noisy, so: ROUNDS (default 5) rounds, each
 * measuring the three in turn, in alternating order (tree, dd, one; then
 * one, dd, tree), with the ratios taken inside a round and their median and
 * spread printed; every measurement starts from the same state: the previous
 * file removed, `sync`, then SETTLE_MS (default 3000) of quiet (this guest
 * hands freed memory back to its host after about 2 s: the first touch of
 * such memory is several times slower, so a run right after another one's
 * file was removed would get faster page cache than the next). CPU time
 * (user + system) of the checkpointing process and of dd is printed too: it
 * depends less on the other tenants than wall time does. The load average
 * is printed with every round. A warm-up round is measured and dropped.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AFTER, checkpoint, SCOPE } from '../src/engine/libckpt.js';
import { CLOSE_FDS } from './closefds.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PROCS = Number(process.env.PROCS ?? 16);
const MIB = Number(process.env.MIB_EACH ?? 64);
const ROUNDS = Number(process.env.ROUNDS ?? process.env.RUNS ?? 5);
const SETTLE_MS = Number(process.env.SETTLE_MS ?? 3000);
const mode = process.env.AFTER ?? 'cont';
if (mode !== 'cont' && mode !== 'stop') throw new Error(`AFTER=${mode}: expected cont or stop`);
const MODE: 'cont' | 'stop' = mode;
const DIR = mkdtempSync(join(process.env.BENCH_DIR ?? '/var/tmp', 'ckpt-bench-tree-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)] as number;
const spread = (xs: number[]) =>
  `median ${median(xs).toFixed(2)}, range ${(sorted(xs)[0] as number).toFixed(2)}-${(sorted(xs)[xs.length - 1] as number).toFixed(2)}`;
const secs = (ns: bigint) => Number(ns) / 1e9;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** CPU seconds (user + system) of this process's reaped children. */
function childCpu(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields 16 and 17 (cutime, cstime) in clock ticks; f[0] is field 3
  return (Number(f[13]) + Number(f[14])) / 100;
}

async function launch(n: number, mib: number): Promise<number> {
  const out = join(DIR, `target-${n}.out`);
  const fd = openSync(out, 'w');
  // only descriptors 0-2: a pipe leaked by the environment, inherited by
  // both targets, would lead outside the tree
  spawn(
    'setsid',
    ['-f', ...CLOSE_FDS, join(REPO, 'native', 'build', 'progs', 'memtree'), String(n), String(mib)],
    { stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  for (;;) {
    const m = /READY (\d+)/.exec(readFileSync(out, 'utf8'));
    if (m) return Number(m[1]);
    await sleep(50);
  }
}

/** The same starting state for every measurement: no dirty data, freed memory settled. */
async function settle() {
  spawnSync('sync');
  await sleep(SETTLE_MS);
}

interface Sample {
  wall: number;
  cpu: number;
  frozen: number;
  bytes: number;
  processes: number;
}

async function measure(pid: number, image: string): Promise<Sample> {
  await settle();
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = await checkpoint(pid, image, { after: AFTER[MODE], scope: SCOPE.tree });
  const wall = secs(process.hrtime.bigint() - t0);
  const c = process.cpuUsage(c0);
  if (MODE === 'stop') process.kill(-pid, 'SIGCONT');
  const bytes = statSync(image).size;
  rmSync(image, { force: true });
  return {
    wall,
    cpu: (c.user + c.system) / 1e6,
    frozen: r.frozenNs / 1e9,
    bytes,
    processes: r.processes,
  };
}

async function dd(bytes: number): Promise<Sample> {
  const file = join(DIR, 'dd.out');
  await settle();
  const c0 = childCpu();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(
    'dd',
    ['if=/dev/zero', `of=${file}`, 'bs=4M', `count=${bytes}`, 'iflag=count_bytes', 'conv=fsync'],
    { stdio: 'ignore' },
  );
  spawnSync('sync', [DIR]); // the directory, as the checkpoint's rename is made durable
  const wall = secs(process.hrtime.bigint() - t0);
  const cpu = childCpu() - c0;
  if (r.status !== 0 || statSync(file).size !== bytes)
    throw new Error(`dd did not write ${bytes} bytes to ${file} (exit ${r.status})`);
  rmSync(file, { force: true });
  return { wall, cpu, frozen: 0, bytes, processes: 0 };
}

const tree = await launch(PROCS, MIB);
const one = await launch(1, PROCS * MIB);
console.log(
  `targets: a tree of ${PROCS} x ${MIB} MiB (pid ${tree}), one process of ${PROCS * MIB} MiB (pid ${one}); files in ${DIR}; after=${MODE}; ${ROUNDS} rounds, ${SETTLE_MS} ms settle; load ${load()}`,
);
const rows: { tree: Sample; dd: Sample; one: Sample }[] = [];
try {
  for (let round = 0; round <= ROUNDS; round++) {
    const s: Partial<{ tree: Sample; dd: Sample; one: Sample }> = {};
    const order = round % 2 ? (['one', 'dd', 'tree'] as const) : (['tree', 'dd', 'one'] as const);
    for (const what of order) {
      if (what === 'tree') s.tree = await measure(tree, join(DIR, 'tree.img'));
      else if (what === 'one') s.one = await measure(one, join(DIR, 'one.img'));
      else s.dd = await dd(s.tree?.bytes ?? s.one?.bytes ?? PROCS * MIB * 2 ** 20);
    }
    const { tree: t, dd: d, one: o } = s as { tree: Sample; dd: Sample; one: Sample };
    const label = round === 0 ? 'warm-up (dropped)' : `round ${round}`;
    console.log(
      `${label} [${order.join(', ')}]: tree ${t.processes} processes, ${(t.bytes / 2 ** 20).toFixed(0)} MiB: checkpoint ${t.wall.toFixed(3)} s (cpu ${t.cpu.toFixed(2)} s, frozen ${t.frozen.toFixed(3)} s); dd+fsync ${d.wall.toFixed(3)} s (cpu ${d.cpu.toFixed(2)} s); one process: checkpoint ${o.wall.toFixed(3)} s (cpu ${o.cpu.toFixed(2)} s, frozen ${o.frozen.toFixed(3)} s); load ${load()}`,
    );
    if (round > 0) rows.push({ tree: t, dd: d, one: o });
  }
} finally {
  for (const pid of [tree, one]) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
  rmSync(DIR, { recursive: true, force: true });
}
const cp = rows.map((r) => r.tree.wall / r.dd.wall);
const frozen = rows.map((r) => r.tree.frozen / r.one.frozen);
console.log(
  `tree checkpoint / dd write+fsync, per round: ${spread(cp)} (goal <= 1.15: ${median(cp) <= 1.15 ? 'met' : 'NOT met'})`,
);
console.log(
  `tree frozen / one process frozen, per round: ${spread(frozen)} (goal <= 1.2: ${median(frozen) <= 1.2 ? 'met' : 'NOT met'})`,
);
console.log(
  `cpu seconds, tree checkpoint / dd: ${spread(rows.map((r) => r.tree.cpu / r.dd.cpu))}; tree / one checkpoint: ${spread(rows.map((r) => r.tree.cpu / r.one.cpu))}; one process checkpoint / dd wall: ${spread(rows.map((r) => r.one.wall / r.dd.wall))}`,
);
console.log(`load average at the end: ${load()}`);
