/**
 * Kernel engine vs user engine (issue 13), on demand, in the VM (/dev/ckpt):
 *   scripts/vm/run --mem 2560 -- node dist/bench/engines.js
 * A process with SIZE_MIB (default 256) of dirty anonymous memory (the
 * `memory` test program: heap + 64 MiB mmap). Per run and per engine, in
 * alternating order so drift hits both alike:
 *   checkpoint with after=cont: wall and frozen time (the target runs again
 *   once its memory is in the page cache, before the fsync);
 *   checkpoint with after=kill, then a restart from that image (until the
 *   restorer reports the process restored): the process the next step
 *   checkpoints.
 * The target runs as nobody. Its restart with the kernel engine is made by
 * nobody (ckpt.ko's restore session gives the PID: the module reads the
 * image's PROC and THREAD sections, NEXT_PID per id, SET_EXE); with the user
 * engine by root (clone3 set_tid, PR_SET_MM_MAP exe_fd: what nobody could
 * not do). Both run the restore helper the same way (ckpt-restore, report
 * on fd 3, timed until its OK line), so the ratio is the module's cost.
 * Prints each step and the median ratios kernel / user (TCG makes absolute
 * times meaningless).
 */

import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AFTER, BACKEND, checkpoint } from '../src/engine/libckpt.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SIZE = Number(process.env.SIZE_MIB ?? 256);
const RUNS = Number(process.env.RUNS ?? 3);
const DIR = mkdtempSync(join(process.env.BENCH_DIR ?? '/var/tmp', 'ckpt-engines-'));
chmodSync(DIR, 0o777); // the target and the kernel engine's restarter are nobody
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups', '--'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const now = () => process.hrtime.bigint();
const secs = (ns: bigint) => Number(ns) / 1e9;

if (!existsSync('/dev/ckpt')) {
  console.error('bench/engines: /dev/ckpt is not present; run it in the VM (see the comment)');
  process.exit(2);
}

async function launch(): Promise<number> {
  // ckpt.ko gives a normal user no pid below 300: a fresh guest's are lower
  while ((spawnSync('true').pid ?? 0) < 400) {}
  const out = join(DIR, 'target.out');
  const fd = openSync(out, 'w', 0o666);
  chmodSync(out, 0o666); // reopened by the restored process, as nobody
  // the heap argument is SIZE minus the program's fixed 64 MiB mapping
  const memory = join(REPO, 'native', 'build', 'progs', 'memory');
  spawn('setpriv', [...NOBODY, 'setsid', '-f', memory, String(SIZE - 64)], {
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  for (;;) {
    const m = /READY (\d+)/.exec(readFileSync(out, 'utf8'));
    if (m) return Number(m[1]);
    await sleep(50);
  }
}

/**
 * The restore helper on image, by nobody with the kernel engine or by root
 * with the user engine; resolves with the restored pid at its OK report.
 * The helper stays, waiting for the restored process (as cr_restart).
 */
function restartAs(engine: Engine, image: string): Promise<number> {
  const helper = join(REPO, 'native', 'build', 'ckpt-restore');
  const args = [
    '--report-fd=3',
    `--engine=${BACKEND[engine]}`,
    '--after',
    String(AFTER.cont),
    '--',
    image,
  ];
  const [cmd, argv] =
    engine === 'kernel' ? ['setpriv', [...NOBODY, helper, ...args]] : [helper, args];
  const child = spawn(cmd, argv, {
    stdio: ['ignore', 'ignore', 'inherit', 'pipe'],
    env: { ...process.env, GLIBC_TUNABLES: 'glibc.pthread.rseq=0' },
    detached: true,
  });
  child.unref();
  const report = child.stdio[3] as NodeJS.ReadableStream;
  return new Promise((resolve, reject) => {
    let text = '';
    report.on('data', (b: Buffer) => {
      text += b.toString();
      const ok = /^OK (\d+)/m.exec(text);
      const err = /^ERR (.*)$/m.exec(text);
      if (ok) resolve(Number(ok[1]));
      else if (err) reject(new Error(`${engine} restart: ${err[1]}`));
    });
    report.on('end', () => reject(new Error(`${engine} restart: no report (${text})`)));
  });
}

type Engine = 'user' | 'kernel';
const rows: Record<Engine, { cp: number; frozen: number; cpKill: number; rs: number }[]> = {
  user: [],
  kernel: [],
};
const pid = await launch();
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
    chmodSync(image, 0o644); // nobody's restarter reads it
    while (existsSync(`/proc/${pid}`)) await sleep(20);
    t0 = now();
    const restored = await restartAs(engine, image);
    const rs = secs(now() - t0);
    if (restored !== pid) throw new Error(`${engine}: restored as ${restored}, was ${pid}`);
    const row = { cp, frozen: c.frozenNs / 1e9, cpKill, rs };
    rows[engine].push(row);
    console.log(
      `run ${run + 1} ${engine.padEnd(6)}: checkpoint ${cp.toFixed(3)} s (frozen ${row.frozen.toFixed(3)} s), with kill ${cpKill.toFixed(3)} s; restart ${engine === 'kernel' ? 'by nobody through ckpt.ko' : 'by root'} ${rs.toFixed(3)} s`,
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
  ['rs', 'restart, same pid (kernel: nobody through ckpt.ko; user: root)'],
] as const) {
  const ratio = m('kernel', k) / m('user', k);
  console.log(
    `${what}: kernel ${m('kernel', k).toFixed(3)} s / user ${m('user', k).toFixed(3)} s = ${ratio.toFixed(2)} (medians of ${RUNS})`,
  );
}
rmSync(DIR, { recursive: true, force: true });
