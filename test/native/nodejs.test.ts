/**
 * A node.js program across checkpoint/restart (issue 10's acceptance): its
 * event loop holds epoll, eventfds, pipes, an inotify (fs.watch) and a
 * listening TCP socket (node:http on 127.0.0.1). Started detached,
 * checkpointed with after=kill and restarted (same PID) twice in a row, the
 * server polled before and after each restart with no connection open during
 * a checkpoint; its output must equal an uninterrupted run's, polled as often.
 *
 * io_uring: libuv can use it for file operations (UV_USE_IO_URING=1; Node
 * 20.20 leaves it off by default). The engine has no io_uring kind (its
 * rings, registered files and requests in flight cannot be made again from
 * userspace), so such a process is refused naming anon_inode:[io_uring]: the
 * second test. The first runs with UV_USE_IO_URING=0 for that reason alone,
 * so that it does not depend on the node version's default.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { AFTER, checkpoint, inspect, restart, wait } from '../../src/engine/libckpt.js';
import { gone, launcher, REPO, sleep, until, within } from './harness.js';

const PROG = join(REPO, 'test', 'native', 'progs', 'nodeloop.mjs');
const scratch = mkdtempSync(join(tmpdir(), 'ckpt-nodejs-'));
const start = launcher(scratch);

/** Start the program detached (setsid -f: not our child); pid and port from READY. */
async function launch(t: ExecutionContext, name: string, uring = '0') {
  const target = await start(t, name, [process.execPath, PROG, join(scratch, `${name}.dir`)], {
    env: { ...process.env, UV_USE_IO_URING: uring },
    ready: /READY (\d+) (\d+)/,
  });
  return { ...target, port: Number(target.ready[2]) };
}

/** One GET on a fresh connection (no keep-alive agent), closed when it returns. */
function poll(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (b) => {
        body += b;
      });
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

const body = (out: string) => readFileSync(out, 'utf8').replace(/^READY \d+ \d+\n/m, '');

async function finish(pid: number, waiter: () => Promise<number>) {
  process.kill(pid, 'SIGUSR2');
  return within(waiter(), 30_000, `exit of ${pid}`);
}

test.serial(
  'a node.js program (setInterval, fs.watch, HTTP server) restarted twice runs as if uninterrupted',
  async (t) => {
    const plain = await launch(t, 'plain');
    for (const path of ['/p0', '/p1', '/p2']) {
      await sleep(300);
      t.is(
        await within(poll(plain.port, path), 5000, 'poll'),
        `hit ${Number(path[2]) + 1} ${path}\n`,
      );
    }
    process.kill(plain.pid, 'SIGUSR2');
    await until('the uninterrupted run exits', () => gone(plain.pid));
    const expected = body(plain.out);
    t.regex(expected, /^PASS$/m, expected);

    const target = await launch(t, 'restored');
    t.is(await within(poll(target.port, '/p0'), 5000, 'poll before'), 'hit 1 /p0\n');
    await sleep(100); // the connection's server side closed
    let waiter = 0;
    for (let cycle = 1; cycle <= 2; cycle++) {
      const image = join(scratch, `node-${cycle}.img`);
      await checkpoint(target.pid, image, { after: AFTER.kill });
      if (waiter) t.is(await within(wait(waiter), 30_000, 'previous restorer exit'), 137);
      await until('killed and reaped', () => gone(target.pid));
      const rr = await restart(image);
      t.is(rr.pid, target.pid, 'same pid');
      waiter = rr.waiterPid;
      const path = `/p${cycle}`;
      t.is(
        await within(poll(target.port, path), 5000, `poll after restart ${cycle}`),
        `hit ${cycle + 1} ${path}\n`,
      );
      await sleep(100);
    }
    const info = JSON.stringify(await inspect(join(scratch, 'node-2.img')));
    for (const k of ['epoll', 'eventfd', 'inotify', 'pipe', 'inet'])
      t.true(info.includes(`"kind":"${k}"`), `${k} in the image`);
    const code = await finish(target.pid, () => wait(waiter));
    const got = body(target.out);
    t.is(code, 0, got);
    t.is(got, expected);
  },
);

test.serial(
  'a node.js program whose libuv holds io_uring is refused naming it, left running',
  async (t) => {
    const target = await launch(t, 'uring', '1');
    const rings = readdirSync(`/proc/${target.pid}/fd`).filter((fd) => {
      try {
        return readlinkSync(`/proc/${target.pid}/fd/${fd}`) === 'anon_inode:[io_uring]';
      } catch {
        return false;
      }
    });
    if (!rings.length) {
      t.log('skipped: libuv made no io_uring here (kernel.io_uring_disabled or an older kernel)');
      t.pass();
      return;
    }
    const image = join(scratch, 'uring.img');
    const err = await t.throwsAsync(checkpoint(target.pid, image, { after: AFTER.kill }));
    t.regex(
      err?.message ?? '',
      new RegExp(`pid ${target.pid} fd (${rings.join('|')}) \\(anon_inode:\\[io_uring\\]\\)`),
    );
    await sleep(200);
    t.false(gone(target.pid), 'the target was not killed');
    t.false(existsSync(image), 'no image left behind');
    t.is(await within(poll(target.port, '/still'), 5000, 'poll'), 'hit 1 /still\n');
  },
);
