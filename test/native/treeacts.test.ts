/**
 * What the injected syscalls read from every process of a tree, now that the
 * members' injections run at once (ckpt_heal_run): the treeacts prog
 * (test/native/progs/treeacts.c).
 * - Every signal's action (handler, flags, mask, restorer; SIG_DFL and
 *   SIG_IGN entries with flags and masks of their own, SIGCHLD SIG_DFL with
 *   SA_NOCLDSTOP/SA_NOCLDWAIT), different in each of four processes, is the
 *   same after a restart.
 * - Signals queued to the members while they are checkpointed again and
 *   again (after=cont) arrive each exactly once: none lost, none twice.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AFTER, checkpoint, restart, SCOPE } from '../../src/engine/libckpt.js';
import { CLOSE_FDS, gone, launcher, PROGS, passes, sleep, until, within } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-treeacts-'));
const launch = launcher(scratch, { group: true, closeFds: true });

for (const kind of ['', '-static']) {
  test.serial(
    `every signal action of four processes comes back after restart${kind}`,
    async (t) => {
      const { pid, out } = await launch(t, `treeacts${kind}`, [join(PROGS, `treeacts${kind}`)]);
      const image = join(scratch, `treeacts${kind}.img`);
      const r = await checkpoint(pid, image, { after: AFTER.kill, scope: SCOPE.tree });
      t.is(r.processes, 4, 'the parent, two children, the grandchild');
      await until('killed and reaped', () => gone(pid));
      const rr = await restart(image, {});
      await passes(t, rr, out);
    },
  );
}

test.serial('signals queued during checkpoints arrive once each, none lost', async (t) => {
  const N = 1500;
  const { pid, out } = await launch(t, 'treeacts-count', [
    join(PROGS, 'treeacts'),
    'count',
    String(N),
  ]);
  const pids = [...readFileSync(out, 'utf8').matchAll(/^PID (\d+)$/gm)].map((m) => m[1] as string);
  t.is(pids.length, 3, readFileSync(out, 'utf8'));
  const sender = spawn(
    'setsid',
    [...CLOSE_FDS, join(PROGS, 'treeacts'), 'send', String(N), ...pids],
    {
      stdio: 'ignore',
    },
  );
  const sent = new Promise<number | null>((res) => sender.on('exit', (code) => res(code)));
  let running = true;
  void sent.then(() => {
    running = false;
  });
  let checkpoints = 0;
  while (running || checkpoints < 2) {
    const r = await checkpoint(pid, join(scratch, 'treeacts-count.img'), {
      after: AFTER.cont,
      scope: SCOPE.tree,
    });
    t.is(r.processes, 3);
    checkpoints++;
  }
  t.is(await within(sent, 60_000, 'the sender'), 0, 'every signal queued');
  t.log(`${checkpoints} checkpoints while ${N} signals went to each of 3 processes`);
  process.kill(pid, 'SIGUSR1');
  const text = await until('the verdict', () => {
    const s = readFileSync(out, 'utf8');
    return /^(PASS|FAIL.*)$/m.test(s) && (/PASS/.test(s) || /FAIL/.test(s)) ? s : false;
  });
  t.regex(text, /^PASS$/m, text);
  t.notRegex(text, /FAIL/, text);
});

/** The state letter of /proc/PID/stat ('T' stopped), or '' when gone. */
function stateOf(pid: number): string {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
  } catch {
    return '';
  }
}

function membersOf(pgid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const s = readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) === pgid) out.push(Number(e));
    } catch {}
  }
  return out;
}

// A SIGSTOP (job control: ^Z, a scheduler suspending a job) sent while a tree
// is being checkpointed must still stop it: one that arrives while the
// checkpointer steps a member through its injected syscalls is reported to the
// tracer as a signal-delivery stop and suppressed there (it cannot be blocked),
// so it has to be sent again when the member is let go.
test.serial('a SIGSTOP sent during a tree checkpoint stops the job afterwards', async (t) => {
  const target = await launch(t, 'stoptree', [join(PROGS, 'memtree'), '8', '1']);
  const members = membersOf(target.pid);
  t.is(members.length, 8, 'eight processes in the group');
  for (let round = 0; round < 12; round++) {
    const image = join(scratch, `stoptree-${round}.img`);
    const cp = checkpoint(target.pid, image, { after: AFTER.cont, scope: SCOPE.tree });
    await sleep(2 + round * 4); // 2..46 ms into the checkpoint: freeze, injections, memory
    process.kill(-target.pid, 'SIGSTOP');
    await cp;
    const running = await within(
      until('every member stopped', () => members.every((p) => stateOf(p) === 'T')),
      3000,
      'the members to stop',
    ).then(
      () => [],
      () => members.filter((p) => stateOf(p) !== 'T'),
    );
    t.deepEqual(running, [], `round ${round}: members not stopped after the checkpoint`);
    process.kill(-target.pid, 'SIGCONT');
    await until('every member running again', () => members.every((p) => stateOf(p) !== 'T'));
  }
});

test.serial(
  'a SIGSTOP then a SIGCONT sent during a tree checkpoint leave the job running',
  async (t) => {
    const target = await launch(t, 'stopconttree', [join(PROGS, 'memtree'), '8', '1']);
    const members = membersOf(target.pid);
    t.is(members.length, 8, 'eight processes in the group');
    for (let round = 0; round < 12; round++) {
      const image = join(scratch, `stopconttree-${round}.img`);
      const cp = checkpoint(target.pid, image, { after: AFTER.cont, scope: SCOPE.tree });
      await sleep(2 + round * 4); // 2..46 ms into the checkpoint
      process.kill(-target.pid, 'SIGSTOP');
      await sleep(2);
      process.kill(-target.pid, 'SIGCONT');
      await cp;
      await sleep(300);
      const stopped = members.filter((p) => stateOf(p) === 'T');
      t.deepEqual(stopped, [], `round ${round}: members stopped after STOP+CONT`);
      if (stopped.length) process.kill(-target.pid, 'SIGCONT');
    }
  },
);
