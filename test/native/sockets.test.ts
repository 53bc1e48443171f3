/**
 * Socket kinds (native/src/fd_unix.c, fd_inet.c) on real processes: the
 * zdtm-shaped programs test/native/progs/{unixsock,tcplisten,tcpclient}.c are
 * started detached, checkpointed with after=kill, restarted with the same PID
 * and verify themselves (SIGUSR1 -> PASS). Servers and clients outside the job
 * are this test process (node:net, node:dgram). Every refusal is checked to
 * name the descriptor and the object and to leave the target running.
 */
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { AFTER, checkpoint, restart } from '../../src/engine/libckpt.js';
import { runCli } from '../cli/run-cli.js';
import { gone, launcher, PROGS, passes, sleep, type Target, until, within } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ckpt-sockets-'));
const launch = launcher(scratch);

/** Checkpoint with after=kill, restart with the same PID; the waiter's pid. */
async function killAndRestart(t: ExecutionContext, target: Target, image: string) {
  const r = await checkpoint(target.pid, image, { after: AFTER.kill });
  t.true(r.bytes > 0, JSON.stringify(r));
  await until('killed and reaped', () => gone(target.pid));
  const rr = await restart(image);
  t.is(rr.pid, target.pid, 'same pid');
  return rr.waiterPid;
}

/** SIGUSR1, then the restored program's exit status 0 and PASS. */
async function verify(t: ExecutionContext, target: Target, waiter: number) {
  await passes(t, { pid: target.pid, waiterPid: waiter }, target.out);
}

/** A refused checkpoint: the message matches, the target is still running. */
async function refused(t: ExecutionContext, target: Target, image: string, re: RegExp) {
  const err = await t.throwsAsync(checkpoint(target.pid, image, { after: AFTER.kill }));
  t.regex(err?.message ?? '', re);
  t.regex(err?.message ?? '', new RegExp(`pid ${target.pid} fd \\d+`));
  await sleep(200);
  t.false(gone(target.pid), 'the target was not killed');
  t.false(existsSync(image), 'no image left behind');
  return err?.message ?? '';
}

for (const variant of ['unixsock', 'unixsock-static']) {
  test.serial(
    `${variant}: socketpairs with data queued both ways, listeners on a path and an abstract name, a bound datagram socket`,
    async (t) => {
      const dir = mkdtempSync(join(scratch, `${variant}-`));
      const target = await launch(t, variant, [join(PROGS, variant), dir]);
      const waiter = await killAndRestart(t, target, join(scratch, `${variant}.img`));
      t.true(statSync(join(dir, 'listen.sock')).isSocket(), 'the socket file is there again');
      await verify(t, target, waiter);
    },
  );
}

test.serial('a descriptor in flight (SCM_RIGHTS) refuses the checkpoint', async (t) => {
  const target = await launch(t, 'unixsock-scm', [join(PROGS, 'unixsock'), scratch, 'scm']);
  await refused(
    t,
    target,
    join(scratch, 'scm.img'),
    /unix stream socket has descriptors in flight \(SCM_RIGHTS\)/,
  );
});

/** One line to a TCP server and its answer; the server closes. */
function tcpAsk(port: number, host: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host });
    let got = '';
    s.on('data', (b) => {
      got += b.toString();
      if (got === `echo:${line}`) s.end(); // we close first (TIME_WAIT on our side)
    });
    s.on('close', () => resolve(got));
    s.on('error', reject);
    s.write(line);
  });
}

function udpAsk(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.on('message', (m) => {
      s.close();
      resolve(m.toString());
    });
    s.on('error', reject);
    s.send(text, port, '127.0.0.1');
  });
}

test.serial(
  'listening TCP (IPv4, IPv6) and bound UDP serve again on the same ports after a restart',
  async (t) => {
    const target = await launch(t, 'tcplisten', [join(PROGS, 'tcplisten')]);
    const m = /PORTS (\d+) (\d+) (\d+)/.exec(readFileSync(target.out, 'utf8'));
    t.truthy(m);
    const [p4, p6, pu] = [Number(m?.[1]), Number(m?.[2]), Number(m?.[3])];
    const ask = async (round: string) => {
      t.is(await tcpAsk(p4, '127.0.0.1', `v4-${round}`), `echo:v4-${round}`);
      t.is(await tcpAsk(p6, '::1', `v6-${round}`), `echo:v6-${round}`);
      t.is(await within(udpAsk(pu, `udp-${round}`), 5000, 'UDP echo'), `udp-${round}`);
    };
    await ask('before');
    await sleep(100); // every connection closed before the checkpoint
    const waiter = await killAndRestart(t, target, join(scratch, 'tcplisten.img'));
    await ask('after');
    await ask('again');
    await verify(t, target, waiter);
  },
);

test.serial('a connection waiting in a TCP accept queue refuses the checkpoint', async (t) => {
  const target = await launch(t, 'tcplisten-backlog', [join(PROGS, 'tcplisten'), 'backlog']);
  const m = /PORTS (\d+)/.exec(readFileSync(target.out, 'utf8'));
  const waiting = connect({ port: Number(m?.[1]), host: '127.0.0.1' });
  t.teardown(() => waiting.destroy());
  await new Promise((r) => waiting.once('connect', r));
  await sleep(50);
  await refused(
    t,
    target,
    join(scratch, 'backlog.img'),
    /TCP socket listening on 127\.0\.0\.1:\d+ has 1 connection\(s\) waiting in its accept queue/,
  );
});

/** A ping/pong server outside the job: answers "ping N" with "pong N", checks N counts up. */
interface PongServer {
  server: Server;
  count: () => number;
  errors: string[];
  sockets: Socket[];
}

function pongServer(): PongServer {
  let n = 0;
  const errors: string[] = [];
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    let buf = '';
    s.on('data', (b) => {
      buf += b.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line !== `ping ${n}`) errors.push(`got '${line}', expected 'ping ${n}'`);
        s.write(`pong ${n}\n`);
        n++;
      }
    });
    s.on('error', (e) => errors.push(`socket error: ${e.message}`));
    s.on('end', () => errors.push('the client closed the connection'));
  });
  return { server, count: () => n, errors, sockets };
}

/** The connections the network lock (native/src/netlock.c) holds, as nft lists them
 * (by its path: under npx, node_modules/.bin has an unrelated `nft`). */
function netlocks(): string {
  const r = spawnSync('/usr/sbin/nft', ['list', 'set', 'inet', 'ckpt-netlock', 'tcp4'], {
    encoding: 'utf8',
  });
  if (r.status !== 0 || !r.stdout.includes('set tcp4'))
    throw new Error(`nft list set: ${JSON.stringify(r)}`);
  return r.stdout;
}

test.serial(
  'a TCP client of a server outside the job: refused by default, carries on with --tcp-established',
  async (t) => {
    const ps = pongServer();
    await new Promise<void>((r) => ps.server.listen(0, '127.0.0.1', r));
    t.teardown(() => {
      for (const s of ps.sockets) s.destroy();
      ps.server.close();
    });
    const port = (ps.server.address() as { port: number }).port;
    const target = await launch(t, 'tcpclient', [join(PROGS, 'tcpclient'), 'tcp', String(port)]);
    await until('10 exchanges', () => ps.count() >= 10);

    const image = join(scratch, 'tcpclient.img');
    await refused(
      t,
      target,
      image,
      new RegExp(
        `TCP connection 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${port} cannot be checkpointed; use --tcp-established`,
      ),
    );
    const afterRefusal = ps.count();
    await until('exchanges go on after the refusal', () => ps.count() >= afterRefusal + 10);

    const cp = await runCli('ckpt', [
      'checkpoint',
      '--tcp-established',
      '--kill',
      '-f',
      image,
      String(target.pid),
    ]);
    t.is(cp.code, 0, cp.stderr);
    await until('killed and reaped', () => gone(target.pid));
    // Between the kill and the restart the network lock drops the
    // connection's packets: the server's retransmission of the last pong
    // (sent ~200 ms after it went unacknowledged) would otherwise meet no
    // socket and be answered with a RST. Wait past it on purpose.
    const atKill = ps.count();
    const clientPort = ps.sockets[0]?.remotePort;
    const element = `127.0.0.1 . ${clientPort} . 127.0.0.1 . ${port}`;
    t.teardown(() => {
      // a failed run must not leave its lock behind (no-op once released)
      spawnSync('/usr/sbin/nft', [
        'delete',
        'element',
        'inet',
        'ckpt-netlock',
        'tcp4',
        `{ ${element} }`,
      ]);
    });
    t.true(netlocks().includes(element), `lock ${element} held: ${netlocks()}`);
    await sleep(700);
    const rr = await restart(image);
    t.false(netlocks().includes(element), 'the restart released the lock');
    t.is(ps.count(), atKill, 'nothing exchanged while the client was gone');
    t.deepEqual(ps.errors, [], 'the server saw no FIN, RST or error at the kill');
    t.is(rr.pid, target.pid);
    await until('exchanges go on after the restart', () => ps.count() >= atKill + 20);
    await verify(t, target, rr.waiterPid);
    t.is(ps.sockets.length, 1, 'one connection all along');
    t.deepEqual(
      ps.errors.filter((e) => e !== 'the client closed the connection'),
      [],
      ps.errors.join('; '),
    );
  },
);

test.serial(
  'a Unix socket connected to a process outside the job refuses the checkpoint naming it',
  async (t) => {
    const ps = pongServer();
    const path = join(scratch, 'pong.sock');
    await new Promise<void>((r) => ps.server.listen(path, r));
    t.teardown(() => {
      for (const s of ps.sockets) s.destroy();
      ps.server.close();
    });
    const target = await launch(t, 'unixclient', [join(PROGS, 'tcpclient'), 'unix', path]);
    await until('10 exchanges', () => ps.count() >= 10);
    await refused(
      t,
      target,
      join(scratch, 'unixclient.img'),
      new RegExp(
        `unix stream socket connected to socket:\\[\\d+\\] .*held by pid ${process.pid}, outside what is checkpointed`,
      ),
    );
    const n = ps.count();
    await until('exchanges go on after the refusal', () => ps.count() >= n + 5);
    t.deepEqual(ps.errors, []);
  },
);
