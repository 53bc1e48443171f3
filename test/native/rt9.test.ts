/**
 * Red team, session 9: what real programs and hostile conditions did to the
 * checkpointer after the overlapped injection, O_DIRECT images and the
 * mlockall probe. Each case: refused before anything changes, naming the
 * process and what, with the process alive and unchanged.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { runCli } from '../cli/run-cli.js';
import { gone, launcher, PROGS, sleep, until } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-rt9-'));
const launch = launcher(scratch, { closeFds: true });

test.after.always(() => rmSync(scratch, { recursive: true, force: true }));

// Syscall user dispatch (Wine, binary translators): with the selector at
// BLOCK a syscall injected from [vdso] raises SIGSYS in the target (it died
// of the checkpoint: "injected syscall faulted"), and with it at ALLOW the
// restart silently dropped the dispatch. No restart can give it back, so the
// checkpoint refuses it before any injection. 'thread': only a second thread
// has it on (it is per thread), and the refusal names that thread.
for (const mode of ['allow', 'block', 'thread']) {
  const what = mode === 'thread' ? 'in a second thread only' : `selector ${mode}`;
  test(`syscall user dispatch (${what}) is refused and the process runs on unchanged`, async (t) => {
    const target = await launch(t, `sud-${mode}`, [join(PROGS, 'sud'), mode]);
    const tid =
      mode === 'thread' ? /SUD (\d+)/.exec(readFileSync(target.out, 'utf8'))?.[1] : target.pid;
    t.truthy(tid, 'the thread with the dispatch on printed its tid');
    const status = () => readFileSync(`/proc/${target.pid}/status`, 'utf8');
    const sigs = (s: string) => s.split('\n').filter((l) => /^Sig(Blk|Ign|Cgt):/.test(l));
    const before = sigs(status());
    const image = join(scratch, `sud-${mode}.ckpt`);
    const cp = await runCli('ckpt', ['checkpoint', '-f', image, String(target.pid)]);
    t.is(cp.code, 1, cp.stderr);
    t.regex(cp.stderr, new RegExp(`pid ${target.pid} thread ${tid}: syscall user dispatch`));
    t.false(existsSync(image));
    await sleep(100);
    t.false(gone(target.pid), 'the target lives on');
    t.deepEqual(sigs(status()), before, 'signal mask and actions unchanged');
    process.kill(target.pid, 'SIGUSR1');
    const out = await until('PASS or FAIL', () => {
      const o = readFileSync(target.out, 'utf8');
      return /PASS|FAIL/.test(o) ? o : false;
    });
    t.regex(out, /PASS/);
  });
}
