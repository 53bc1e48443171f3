/**
 * Kernel engine vs user engine (issue 13), on demand, in the VM (/dev/ckpt):
 *   scripts/vm/run --mem 2560 -- node dist/bench/engines.js
 * A process with SIZE_MIB (default 256) of dirty anonymous memory (the
 * `memory` test program: heap + 64 MiB mmap). Per run and per engine, in
 * alternating order so drift hits both alike:
 *   checkpoint with after=cont: wall and frozen time (the target runs again
 *   once its memory is in the page cache, before the fsync);
 *   checkpoint with after=kill, then a restart from that image (until the
 *   restored process runs): the process the next step checkpoints.
 * The restart is the same restorer for both; it is measured per image to
 * show an image of either engine restores alike. Prints each step and the
 * median ratios kernel / user (TCG makes absolute times meaningless).
 */

import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AFTER, BACKEND, checkpoint, restart, wait } from '../src/engine/libckpt.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SIZE = Number(process.env.SIZE_MIB ?? 256);
const RUNS = Number(process.env.RUNS ?? 3);
const DIR = mkdtempSync(join(process.env.BENCH_DIR ?? '/var/tmp', 'ckpt-engines-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const now = () => process.hrtime.bigint();
const secs = (ns: bigint) => Number(ns) / 1e9;

if (!existsSync('/dev/ckpt')) {
  console.error('bench/engines: /dev/ckpt is not present; run it in the VM (see the comment)');
  process.exit(2);
}

async function launch(): Promise<number> {
  const out = join(DIR, 'target.out');
  const fd = openSync(out, 'w');
  // the heap argument is SIZE minus the program's fixed 64 MiB mapping
  spawn('setsid', ['-f', join(REPO, 'native', 'build', 'progs', 'memory'), String(SIZE - 64)], {
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  for (;;) {
    const m = /READY (\d+)/.exec(readFileSync(out, 'utf8'));
    if (m) return Number(m[1]);
    await sleep(50);
  }
}

type Engine = 'user' | 'kernel';
const rows: Record<Engine, { cp: number; frozen: number; cpKill: number; rs: number }[]> = {
  user: [],
  kernel: [],
};
let pid = await launch();
console.log(`target: ${SIZE} MiB dirty anonymous memory; images in ${DIR}`);
for (let run = 0; run < RUNS; run++) {
  const order: Engine[] = run % 2 ? ['kernel', 'user'] : ['user', 'kernel'];
  for (const engine of order) {
    const backend = BACKEND[engine];
    const image = join(DIR, `${engine}.img`);
    let t0 = now();
    const c = await checkpoint(pid, image, { after: AFTER.cont, backend });
    const cp = secs(now() - t0);
    if (c.backend !== backend) throw new Error(`asked ${engine}, libckpt used ${c.backend}`);
    t0 = now();
    await checkpoint(pid, image, { after: AFTER.kill, backend });
    const cpKill = secs(now() - t0);
    while (existsSync(`/proc/${pid}`)) await sleep(20);
    t0 = now();
    const rr = await restart(image);
    const rs = secs(now() - t0);
    pid = rr.pid;
    wait(rr.waiterPid).catch(() => 0);
    const row = { cp, frozen: c.frozenNs / 1e9, cpKill, rs };
    rows[engine].push(row);
    console.log(
      `run ${run + 1} ${engine.padEnd(6)}: checkpoint ${cp.toFixed(3)} s (frozen ${row.frozen.toFixed(3)} s), with kill ${cpKill.toFixed(3)} s; restart of its image ${rs.toFixed(3)} s`,
    );
    rmSync(image, { force: true });
  }
}
process.kill(pid, 'SIGKILL');
const m = (e: Engine, k: 'cp' | 'frozen' | 'cpKill' | 'rs') => median(rows[e].map((r) => r[k]));
for (const [k, what] of [
  ['cp', 'checkpoint (after=cont)'],
  ['frozen', 'frozen time'],
  ['cpKill', 'checkpoint (after=kill, fsync included)'],
  ['rs', 'restart of its image'],
] as const) {
  const ratio = m('kernel', k) / m('user', k);
  console.log(
    `${what}: kernel ${m('kernel', k).toFixed(3)} s / user ${m('user', k).toFixed(3)} s = ${ratio.toFixed(2)} (medians of ${RUNS})`,
  );
}
rmSync(DIR, { recursive: true, force: true });
