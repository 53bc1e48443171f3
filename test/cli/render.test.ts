/** Pure renderers: the progress bar and the image description. */
import { Writable } from 'node:stream';
import test from 'ava';
import { countChecksums, renderInspection } from '../../src/cli/inspect-render.js';
import { fitProgress, formatBytes, renderProgress, startProgress } from '../../src/cli/progress.js';

test('progress: bar, percent, bytes, rate and phase', (t) => {
  const line = renderProgress(
    { bytesDone: 256 * 1024 * 1024, bytesTotal: 1024 * 1024 * 1024, phase: 3 },
    500,
    20,
  );
  t.is(line, '[#####...............]  25% 256.0 MiB / 1.0 GiB 512.0 MiB/s memory');
  t.is(renderProgress({ bytesDone: 2048, bytesTotal: 0 }, 1000), '2.0 KiB 2.0 KiB/s');
  t.regex(renderProgress({ bytesDone: 10, bytesTotal: 5 }, 0, 4), /^\[####\] 100% /, 'clamped');
  t.is(formatBytes(1023), '1023 B');
});

test('progress: the worst case fits 80 columns with its phase word whole', (t) => {
  for (const phase of [3, 6]) {
    const s = { bytesDone: 1023.9 * 1024 ** 3, bytesTotal: 1023.9 * 1024 ** 3, phase };
    const line = fitProgress('restart /scratch/some/long/dir/job.4194304.ckpt', s, 1, 80);
    t.true(line.length <= 79, line);
    t.true(line.endsWith(phase === 3 ? ' memory' : ' restoring'), line);
    const narrow = fitProgress('checkpoint 4194304', s, 1, 40);
    t.true(narrow.length <= 39, narrow);
    t.regex(narrow, phase === 3 ? / memory$/ : / restoring$/);
  }
});

class FakeTty extends Writable {
  isTTY: boolean;
  columns = 60;
  frames: string[] = [];
  constructor(isTTY: boolean) {
    super();
    this.isTTY = isTTY;
  }
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    this.frames.push(chunk.toString());
    cb();
  }
}

test('progress: silent when not a terminal, drawn and cleared on one', async (t) => {
  const pipe = new FakeTty(false);
  const stopPipe = startProgress({
    label: 'checkpoint 1',
    read: () => ({ bytesDone: 1, bytesTotal: 2 }),
    stream: pipe as unknown as NodeJS.WriteStream,
    delayMs: 0,
    intervalMs: 10,
  });
  await new Promise((r) => setTimeout(r, 60));
  stopPipe();
  t.deepEqual(pipe.frames, []);

  const tty = new FakeTty(true);
  let done = 0;
  const stop = startProgress({
    label: 'checkpoint 1',
    read: () => {
      done += 1024;
      return { bytesDone: done, bytesTotal: 1024 * 100, phase: 3 };
    },
    stream: tty as unknown as NodeJS.WriteStream,
    delayMs: 0,
    intervalMs: 10,
  });
  await new Promise((r) => setTimeout(r, 80));
  stop();
  t.true(tty.frames.length >= 3);
  t.regex(tty.frames[0] ?? '', /^\rcheckpoint 1 \[/);
  t.true(
    tty.frames.slice(0, -1).every((f) => f.length <= 60 + 4),
    'fits the terminal width',
  );
  t.is(tty.frames.at(-1), '\r\x1b[K', 'the line is cleared at the end');

  const quick = new FakeTty(true);
  startProgress({
    label: 'x',
    read: () => ({ bytesDone: 0, bytesTotal: 0 }),
    stream: quick as unknown as NodeJS.WriteStream,
    delayMs: 1000,
    intervalMs: 10,
  })();
  t.deepEqual(quick.frames, [], 'quick operations draw nothing');
});

const SAMPLE = {
  header: { version: 1, kernel_release: '6.18.0', created: '2026-01-01T00:00:00Z', xcr0: 231 },
  processes: [
    {
      pid: 4242,
      threads: [{ tid: 4242 }, { tid: 4243 }],
      vmas: [
        { start: 4194304, end: 4198400, prot: 'r-x', size: 4096, path: '/usr/bin/solver' },
        { start: 140000000000, end: 140000001048576, prot: 'rw-', size: 1048576, path: '[heap]' },
      ],
      files: [{ fd: 0, path: '/dev/null' }],
    },
  ],
  sections: [
    { type: 'PROC', bytes: 4096, crc_ok: true },
    { type: 'PAGES', bytes: 1048576, crc_ok: true },
  ],
};

test('inspect: every part of the description is rendered, sizes humanised', (t) => {
  const { text, badChecksums } = renderInspection(SAMPLE, '/tmp/ctx');
  t.is(badChecksums, 0);
  t.regex(text, /^file: \/tmp\/ctx$/m);
  t.regex(text, /^ {2}kernel_release: 6\.18\.0$/m);
  t.regex(text, /^ {2}xcr0: 0xe7$/m);
  t.regex(text, /^processes \(1\):$/m);
  t.regex(text, /^process 4242 threads \(2\):$/m);
  t.regex(text, /^process 4242 vmas \(2\):$/m);
  t.regex(text, /1\.0 MiB \(1048576\)\s+\[heap\]/);
  t.regex(text, /^checksums: all 2 verified ok$/m);
});

test('inspect: a bad checksum is counted and shown', (t) => {
  const bad = structuredClone(SAMPLE);
  (bad.sections[1] as { crc_ok: boolean }).crc_ok = false;
  const { text, badChecksums } = renderInspection(bad, 'x');
  t.is(badChecksums, 1);
  t.regex(text, /^checksums: 1 BAD, 1 ok$/m);
  t.deepEqual(
    countChecksums({
      s: [{ checksum: 'ok' }, { checksum: 'mismatch' }, { checksum: 'not verified' }],
    }),
    {
      ok: 1,
      bad: 1,
      unverified: 1,
    },
  );
  t.regex(
    renderInspection({ sections: [{ type: 'PROC' }] }, 'x').text,
    /^checksums: not verified$/m,
  );
});

test('inspect: the processes as a tree, commands indented under their parent, zombies with their exit', (t) => {
  const { text } = renderInspection(
    {
      tree: [
        { pid: 10, ppid: 1, pgid: 10, sid: 10, state: 'live', command: 'job.sh' },
        { pid: 11, ppid: 10, pgid: 10, sid: 10, state: 'zombie', exit: 3, command: 'true' },
        { pid: 12, ppid: 10, pgid: 12, sid: 10, state: 'live', command: 'sort' },
        { pid: 13, ppid: 12, pgid: 12, sid: 10, state: 'zombie', exit: 'SIGKILL', command: 'cat' },
      ],
    },
    'x',
  );
  t.regex(text, /^tree \(4\):$/m);
  t.regex(text, /^ {2}pid +ppid +pgid +sid +state +exit +command$/m);
  t.regex(text, /^ {2}10 +1 +10 +10 +live +job\.sh$/m);
  t.regex(text, /^ {2}11 +10 +10 +10 +zombie +3 +\\_ true$/m);
  t.regex(text, /^ {2}13 +12 +12 +10 +zombie +SIGKILL + {2}\\_ cat$/m);
});
