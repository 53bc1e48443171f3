/**
 * Whole jobs through the daemon (issue 11): a job that is a shell script with
 * children is checkpointed on a fatal health event into one image holding
 * every process, killed as a whole, restarted by command, and finishes with
 * the output an uninterrupted run gives. A job holding a TCP connection to a
 * server outside it is refused: an error event naming the connection, the
 * job left running, no end event, no ok.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { ImageTrust, loadImageKey } from '../../src/engine/image-trust.js';
import { AFTER, checkpoint, inspect, SCOPE } from '../../src/engine/libckpt.js';
import { natsServer } from '../helpers/nats.js';
import {
  CKPT,
  collectResults,
  commands,
  type DaemonProc,
  lineCount,
  linesProgram,
  sleep,
  startDaemon,
  until,
} from './fixture.js';

const gone = (pid: number) => !existsSync(`/proc/${pid}`);

/** Poll an asynchronous condition (a bus request) every 100 ms; fail naming it after ms. */
async function untilAsync(what: string, fn: () => Promise<boolean>, ms = 15_000) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function fatal(id: string, node: string) {
  return JSON.stringify({
    specversion: '1.0',
    id,
    source: 'test',
    type: 'node.failure.imminent',
    severity: 'fatal',
    node,
  });
}

/**
 * `ckpt run --job ID -- bash SCRIPT DIR`, its stdout a pipe to the test (the
 * job's stdio leads outside the job); resolves with the shell's pid once the
 * daemon has the job.
 */
async function runScript(t: ExecutionContext, d: DaemonProc, id: string, script: string) {
  const file = join(d.stateDir, `${id}.sh`);
  writeFileSync(file, script);
  const runner = spawn(
    CKPT,
    ['run', '--job', id, '--bus', d.url, '--node', d.node, '--', 'bash', file, d.stateDir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  runner.stdout?.on('data', (b) => {
    out += b;
  });
  runner.stderr?.on('data', (b) => {
    out += b;
  });
  const exited = new Promise<number | null>((r) => runner.on('exit', (code) => r(code)));
  const said = await until(`${id} says its pid`, () => /SHELL (\d+)/.exec(out) ?? false);
  const shell = Number(said[1]);
  t.teardown(() => {
    for (const p of [shell, ...children(shell)]) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {}
    }
  });
  const c = await commands(t, d);
  for (let i = 0; i < 100; i++) {
    const r = (await c.request('jobs', { job: id })) as { ok: boolean };
    if (r.ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { shell, exited, out: () => out, cmd: c };
}

test.serial(
  'a job shell with two children: fatal event -> one image with all three -> killed -> restart command -> it finishes',
  async (t) => {
    const server = await natsServer(t);
    const d = await startDaemon(t, { url: server.url, node: 'tree' });
    const results = await collectResults(t, server.url, 'tree');
    const lines = linesProgram();
    // each child writes its own file; its stdio is its own, not the shell's
    const job = await runScript(
      t,
      d,
      'shjob',
      `dir=$1
echo SHELL $$
${lines} "$dir/a" 250 </dev/null >/dev/null 2>&1 &
${lines} "$dir/b" 300 </dev/null >/dev/null 2>&1 &
wait
echo "done $(wc -l <"$dir/a") $(wc -l <"$dir/b")" >"$dir/result"
`,
    );
    const a = join(d.stateDir, 'a');
    const b = join(d.stateDir, 'b');
    await until('both children writing', () => lineCount(a) > 5 && lineCount(b) > 5);
    const kids = children(job.shell);
    t.is(kids.length, 2, 'the shell has its two children');
    results.nc.publish('ft.health.tree.test', fatal('ev-tree', 'tree'));
    const end = await until('ckpt end', () => results.find('.shjob.end')[0]);
    const image = end.data.image as string;
    // one image with every process
    const info = await inspect(image);
    const tree = info.tree as { pid: number; ppid: number; state: string; command: string }[];
    t.deepEqual(
      tree.map((r) => [r.pid, r.ppid, r.state]),
      [
        [job.shell, tree[0]?.ppid, 'live'],
        [kids[0], job.shell, 'live'],
        [kids[1], job.shell, 'live'],
      ],
      JSON.stringify(tree),
    );
    t.is(tree[0]?.command, 'bash');
    t.is((info.processes as unknown[]).length, 3);
    // the whole tree dies
    const atKill = [lineCount(a), lineCount(b)];
    for (const p of [job.shell, ...kids]) process.kill(p, 'SIGKILL');
    await until('all three gone', () => [job.shell, ...kids].every(gone));
    t.is(await job.exited, 137, 'ckpt run exits with the killed status');
    t.false(existsSync(join(d.stateDir, 'result')));
    const r = await job.cmd.request('restart', { job: 'shjob' });
    t.true(r.ok, JSON.stringify(r));
    t.is(r.pid, job.shell, 'the shell under its pid');
    t.deepEqual(children(job.shell).sort(), [...kids].sort(), 'its children under theirs');
    await until(
      'the script finishes',
      () =>
        existsSync(join(d.stateDir, 'result')) && readFileSync(join(d.stateDir, 'result'), 'utf8'),
      30_000,
    );
    t.is(readFileSync(join(d.stateDir, 'result'), 'utf8'), 'done 250 300\n');
    t.is(lineCount(a), 250, 'a: 0..249, no gap, no repeat');
    t.is(lineCount(b), 300, 'b: 0..299, no gap, no repeat');
    t.true((atKill[0] as number) < 250 && (atKill[1] as number) < 300, 'killed mid-way');
    t.truthy(results.find('rstrt.tree.shjob.end')[0], 'rstrt end published');
  },
);

test.serial(
  'a job holding a TCP connection to a server outside it: error event naming it, nothing killed, no ok',
  async (t) => {
    const peers: Socket[] = [];
    const srv = createServer((s) => peers.push(s));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    t.teardown(() => {
      for (const s of peers) s.destroy();
      srv.close();
    });
    const port = (srv.address() as { port: number }).port;
    const server = await natsServer(t);
    const d = await startDaemon(t, { url: server.url, node: 'tcp' });
    const results = await collectResults(t, server.url, 'tcp');
    const lines = linesProgram();
    const job = await runScript(
      t,
      d,
      'tcpjob',
      `dir=$1
exec 3<>/dev/tcp/127.0.0.1/${port}
${lines} "$dir/t" 3>&- </dev/null >/dev/null 2>&1 &
echo SHELL $$
wait
`,
    );
    const file = join(d.stateDir, 't');
    await until('the child writing', () => lineCount(file) > 5);
    await until('the server has the connection', () => peers.length === 1);
    const kid = children(job.shell)[0] as number;
    results.nc.publish('ft.health.tcp.test', fatal('ev-tcp', 'tcp'));
    const err = await until('ckpt error', () => results.find('.tcpjob.error')[0]);
    const text = JSON.stringify(err.data);
    t.regex(
      text,
      new RegExp(
        `pid ${job.shell} fd 3 .*TCP connection 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${port}`,
      ),
      text,
    );
    // and as a command: the reply says why, ok is false
    const r = await job.cmd.request('checkpoint', { job: 'tcpjob', after: 'kill' });
    t.false(r.ok, JSON.stringify(r));
    t.regex(JSON.stringify(r), /TCP connection/);
    const n = lineCount(file);
    await until('the job runs on', () => lineCount(file) > n + 5);
    t.false(gone(job.shell) || gone(kid), 'nothing was killed');
    t.is(results.find('.tcpjob.end').length, 0, 'no end event');
    t.false(peers[0]?.destroyed, 'the connection is still up');
  },
);

test.serial(
  "a job restarted from an image of a process group whose processes' parent is outside it (a shell's pipeline) is tracked by all of them: not exited while one runs, also after a daemon restart",
  async (t) => {
    const server = await natsServer(t);
    const d = await startDaemon(t, { url: server.url, node: 'roots' });
    // the job: a shell running `sleep 600 | sleep 600` as a job of its own (set -m)
    const job = await runScript(
      t,
      d,
      'pipejob',
      'echo SHELL $$\nset -m\nsleep 600 | sleep 600 &\nwait\n',
    );
    const stages = await until('both stages', () => {
      const k = children(job.shell);
      return k.length === 2 ? k.sort((a, b) => a - b) : false;
    });
    t.teardown(() => {
      for (const p of stages) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {}
      }
    });
    const [leader, last] = stages as [number, number];
    const pgidOf = (pid: number) => {
      const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[2]);
    };
    t.is(pgidOf(last), leader, 'the first sleep leads the group');
    // an image of the group, where the daemon keeps the job's images, signed with its key
    // (as the daemon signs what it writes): the daemon checkpoints a job as a tree, so
    // the test makes the group's image
    const dir = join(d.stateDir, 'images', 'pipejob');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const image = join(dir, 'pipejob.1.ckpt');
    const r = await checkpoint(leader, image, { after: AFTER.kill, scope: SCOPE.pgid });
    await new ImageTrust(await loadImageKey(d.stateDir), join(d.stateDir, 'images')).sign(image, {
      node: 'roots',
      job: 'pipejob',
      crc32c: r.crc32c,
    });
    await until('both killed', () => stages.every(gone));
    await job.exited;
    const state = async () =>
      (
        (await job.cmd.request('jobs', { job: 'pipejob' })) as {
          jobs: { state: string; pid: number }[];
        }
      ).jobs[0];
    await untilAsync('the job is seen exited', async () => (await state())?.state === 'exited');
    const rr = await job.cmd.request('restart', { job: 'pipejob', image });
    t.true(rr.ok, JSON.stringify(rr));
    t.is(rr.pid, leader, 'the job is the group leader again');
    t.false(gone(last), 'and the second command');
    // the daemon checkpoints the job whole: the group of both, not the leader's tree
    const cp = await job.cmd.request('checkpoint', { job: 'pipejob', after: 'continue' });
    t.true(cp.ok, JSON.stringify(cp));
    const again = await inspect(cp.image as string);
    t.deepEqual(again.roots, [leader, last], 'both commands in the daemon image');
    process.kill(leader, 'SIGKILL');
    await until('the leader ends', () => gone(leader));
    await sleep(1200); // several polls
    t.is((await state())?.state, 'running', 'the second command still runs: not exited');
    // a new daemon (no waiter of its own to watch): the job runs while one of its roots does
    await d.stop();
    const d2 = await startDaemon(t, { url: server.url, node: 'roots', stateDir: d.stateDir });
    const c2 = await commands(t, d2);
    const state2 = async () =>
      (
        (await c2.request('jobs', { job: 'pipejob' })) as {
          jobs: { state: string }[];
        }
      ).jobs[0]?.state;
    await sleep(1200);
    t.is(await state2(), 'running', 'after the daemon restart too');
    process.kill(last, 'SIGKILL');
    await untilAsync('the job ends with its last root', async () => (await state2()) === 'exited');
  },
);
