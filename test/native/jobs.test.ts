/**
 * Real programs whose processes share pipes, files and memory (issue 11),
 * each checkpointed mid-run with --kill as a tree, restarted with the same
 * pids, and compared with an uninterrupted run of the same job:
 * a bash pipeline `sort | uniq -c` over a ~100 MB file, `make -j2` of a
 * small generated C project, a Python multiprocessing Pool(2) and a node.js
 * script with timers and a child process on an IPC channel.
 */
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { AFTER, checkpoint, restart, SCOPE, wait } from '../../src/engine/libckpt.js';
import { gone, launcher, SRC, sleep, until } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-jobs-'));
// its files (a 100 MB input, images) go when the file's tests are done
test.after.always(() => rmSync(scratch, { recursive: true, force: true }));
const launch = launcher(scratch, { group: true });
/** How many children pid has now (0 once it is gone). */
function kids(pid: number): number {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean)
      .length;
  } catch {
    return 0;
  }
}

/** Run `script` (bash) in dir detached, checkpoint it after `after` ms (or
    once `after(pid)` says so: on a loaded machine a fixed wait may come
    before the job has made its processes), restart it, and return its exit
    code once it finishes. */
async function interrupted(
  t: ExecutionContext,
  name: string,
  dir: string,
  script: string,
  after: number | ((pid: number) => boolean),
) {
  const log = join(scratch, `${name}.log`);
  const pidFile = join(scratch, `${name}.pid`);
  const { pid } = await launch(
    t,
    name,
    ['bash', '-c', `echo $$ > ${pidFile}; cd ${dir} && ${script}`],
    { out: log, pidFile },
  );
  if (typeof after === 'number') await sleep(after);
  else await until(`${name} under way`, () => after(pid), 60_000);
  t.false(gone(pid), `${name} still running at the checkpoint`);
  const image = join(scratch, `${name}.img`);
  const r = await checkpoint(pid, image, { after: AFTER.kill, scope: SCOPE.tree });
  t.log(`${name}: ${r.processes} processes checkpointed`);
  t.true(r.processes > 1, JSON.stringify(r));
  await until('killed and reaped', () => gone(pid));
  const rr = await restart(image, {});
  t.is(rr.pid, pid, 'same pid');
  const code = await wait(rr.waiterPid);
  return { code, log: readFileSync(log, 'utf8') };
}

test.serial('bash: sort | uniq -c over a 100 MB file, interrupted, same output', async (t) => {
  const input = join(scratch, 'words.txt');
  const fd = openSync(input, 'w');
  let chunk = '';
  let x = 12345;
  for (let i = 0; i < 200_000; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    chunk += `word-${x % 50_000}-${'abcdefghijklmnopqrstuvwxyz'.slice(0, x % 27)}\n`;
  }
  for (let size = 0; size < 100 * 1024 * 1024; size += chunk.length) writeSync(fd, chunk);
  closeSync(fd);
  const script = `LC_ALL=C sort ${input} | uniq -c > OUT`;
  mkdirSync(join(scratch, 'ref'));
  mkdirSync(join(scratch, 'run'));
  execFileSync('bash', ['-c', `cd ${join(scratch, 'ref')} && ${script}`]);
  // once bash has made sort and uniq
  const r = await interrupted(t, 'sortuniq', join(scratch, 'run'), script, (pid) => kids(pid) >= 2);
  t.is(r.code, 0, r.log);
  const want = readFileSync(join(scratch, 'ref', 'OUT'));
  const got = readFileSync(join(scratch, 'run', 'OUT'));
  t.true(want.length > 0);
  t.true(got.equals(want), `output differs: ${got.length} bytes, want ${want.length}`);
});

test.serial('make -j2 of a small C project, interrupted, same result', async (t) => {
  const PARTS = 16;
  const gen = (dir: string) => {
    mkdirSync(dir);
    const objs: string[] = [];
    for (let i = 0; i < PARTS; i++) {
      let body = '';
      for (let k = 0; k < 300; k++)
        body += `static long f${k}(long x) { return x * ${k + 1} + ${i} - (x >> 3); }\n`;
      body += `long part${i}(long x) { long s = 0;\n`;
      for (let k = 0; k < 300; k++) body += `  s += f${k}(x + ${k});\n`;
      body += '  return s; }\n';
      writeFileSync(join(dir, `p${i}.c`), body);
      objs.push(`p${i}.o`);
    }
    let main = '#include <stdio.h>\n';
    for (let i = 0; i < PARTS; i++) main += `long part${i}(long);\n`;
    main += 'int main(void) { long s = 0;\n';
    for (let i = 0; i < PARTS; i++) main += `  s += part${i}(${i});\n`;
    main += '  printf("%ld\\n", s); return 0; }\n';
    writeFileSync(join(dir, 'main.c'), main);
    writeFileSync(
      join(dir, 'Makefile'),
      `prog: main.o ${objs.join(' ')}\n\tcc -o $@ $^\n%.o: %.c\n\tcc -O2 -c -o $@ $<\n`,
    );
  };
  gen(join(scratch, 'mref'));
  gen(join(scratch, 'mrun'));
  const ref = execFileSync(
    'bash',
    ['-c', `cd ${join(scratch, 'mref')} && make -j2 >/dev/null && ./prog`],
    {
      encoding: 'utf8',
    },
  );
  // mid-build: once the first object is there (a fixed delay let a fast
  // machine finish the build first)
  const mrun = join(scratch, 'mrun');
  const r = await interrupted(t, 'make', mrun, 'make -j2', () =>
    readdirSync(mrun).some((f) => f.endsWith('.o')),
  );
  t.is(r.code, 0, r.log);
  const got = execFileSync(join(scratch, 'mrun', 'prog'), { encoding: 'utf8' });
  t.is(got, ref);
  const lines = (s: string) => s.split('\n').filter(Boolean).sort();
  const refLog = execFileSync('bash', ['-c', `cd ${join(scratch, 'mref')} && make -n -B`], {
    encoding: 'utf8',
  });
  t.deepEqual(lines(r.log), lines(refLog), 'make ran every command once');
});

test.serial('python multiprocessing Pool(2), interrupted, same output', async (t) => {
  const script = join(SRC, 'pool.py');
  const ref = execFileSync('python3', [script, '12000'], { encoding: 'utf8' });
  const dir = join(scratch, 'pool');
  mkdirSync(dir);
  // once the pool's two workers exist
  const r = await interrupted(
    t,
    'pool',
    dir,
    `exec python3 ${script} 12000`,
    (pid) => kids(pid) >= 2,
  );
  t.is(r.code, 0, r.log.slice(-2000));
  t.true(r.log === ref, `output differs (${r.log.length} bytes, want ${ref.length})`);
});

test.serial('node.js with timers and a child process, interrupted, same output', async (t) => {
  const script = join(SRC, 'nodechild.mjs');
  const env = { ...process.env, UV_USE_IO_URING: '0' };
  const ref = execFileSync(process.execPath, [script, '300'], { encoding: 'utf8', env });
  const dir = join(scratch, 'nodechild');
  mkdirSync(dir);
  const r = await interrupted(
    t,
    'nodechild',
    dir,
    `UV_USE_IO_URING=0 exec ${process.execPath} ${script} 300`,
    2000,
  );
  t.is(r.code, 0, r.log.slice(-2000));
  t.true(r.log === ref, `output differs (${r.log.length} bytes, want ${ref.length})`);
});
