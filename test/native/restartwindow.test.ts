/**
 * A restart is reported only once the restored threads that were inside a
 * blocking call (pause, a futex wait, nanosleep, read, poll) are asleep in
 * it again. PTRACE_DETACH wakes a thread with a signal flag set, so the call
 * it was put back into returns at once and is restarted from user mode; a
 * signal sent in that window (by whoever restarted the job, right after the
 * restart returned) ran its handler before the call started again: pause()
 * then slept forever with the wake-up already consumed (seen in CI: the
 * fidelity prctl program hung after a restart).
 *
 * progs/sleepers.c has its main thread in pause() and four threads in other
 * waits. Each round restarts it on one CPU that two busy loops compete for
 * (a thread just detached is often still runnable there), reads every
 * thread's state as soon as restart() returns, and checks that each thread
 * the image records inside a call is asleep ('S') in that call; then
 * SIGUSR1 must end it with PASS. Before the fix most of the
 * restarts so loaded returned with threads still runnable ('R').
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AFTER, checkpoint, inspect, restart } from '../../src/engine/libckpt.js';
import { gone, launcher, PROGS, passes, sleep, until } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-window-'));
const launch = launcher(scratch, { closeFds: true });
const ROUNDS = 4;

/** The state letter of each thread of pid (from /proc/pid/task/tid/stat). */
function states(pid: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      out.set(Number(tid), stat.slice(stat.lastIndexOf(')') + 2)[0] ?? '?');
    } catch {}
  }
  return out;
}

function hogs(n: number, cpu: string): ChildProcess[] {
  return Array.from({ length: n }, () =>
    // bounded: a worker killed before its teardown leaves no loop behind
    spawn('taskset', ['-c', cpu, 'timeout', '120', 'sh', '-c', 'while :; do :; done'], {
      stdio: 'ignore',
    }),
  );
}

/** This worker's allowed CPUs, as taskset -c takes them. */
const allowed = () =>
  /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';

test.serial('restart returns once threads restored inside a call sleep in it again', async (t) => {
  const awake: string[] = [];
  // this worker (and so the restarter and the restored process) and the busy
  // loops on one CPU, the other CPUs left to the tests running beside this one
  const mask = allowed();
  const cpu = mask.split(/[,-]/)[0] ?? '0';
  execFileSync('taskset', ['-a', '-p', '-c', cpu, String(process.pid)], { stdio: 'ignore' });
  const load = hogs(2, cpu);
  t.teardown(() => {
    for (const h of load) h.kill('SIGKILL');
    execFileSync('taskset', ['-a', '-p', '-c', mask, String(process.pid)], { stdio: 'ignore' });
  });
  for (let round = 0; round < ROUNDS; round++) {
    const prog = round % 2 ? 'sleepers-static' : 'sleepers';
    const target = await launch(t, `${prog}-${round}`, [join(PROGS, prog)]);
    await sleep(300); // every thread into its call
    const image = join(scratch, `${prog}-${round}.img`);
    await checkpoint(target.pid, image, { after: AFTER.kill });
    await until('killed', () => gone(target.pid));
    const info = (await inspect(image)) as {
      processes: { threads: { tid: number; inSyscall: boolean }[] }[];
    };
    const threads = info.processes[0]?.threads ?? [];
    const inCall = threads.filter((th) => th.inSyscall).map((th) => th.tid);
    t.true(inCall.length >= 2, `threads inside a call in the image: ${inCall}`);
    const rr = await restart(image);
    const now = states(rr.pid);
    for (const tid of inCall)
      if (now.get(tid) !== 'S') awake.push(`round ${round} thread ${tid}: ${now.get(tid)}`);
    await passes(t, rr, target.out);
  }
  t.deepEqual(awake, [], 'threads not yet back in their calls when restart returned');
});
