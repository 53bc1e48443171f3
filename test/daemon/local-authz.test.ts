/**
 * Issue 12 item 2, the local side: the daemon's Unix socket knows the caller from the
 * kernel (SO_PEERCRED), and a local user acts only on their own processes and jobs; root
 * and the admin group on all. Users are made here with useradd (removed after); the CLI
 * runs as them through setpriv, talking to the daemon through its socket (no --bus).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as natsConnect } from '@nats-io/transport-node';
import test from 'ava';
import { natsServer } from '../helpers/nats.js';
import { CKPT, ckptAs, haveCommands, idOf, startDaemon, until } from './fixture.js';

const TAG = process.pid % 100000;
const U1 = `ckpta${TAG}`;
const U2 = `ckptb${TAG}`;
const ADMINS = `ckptadm${TAG}`;
const haveUseradd = haveCommands('useradd', 'userdel', 'groupadd');

test.before(() => {
  if (!haveUseradd) return;
  execFileSync('groupadd', [ADMINS]);
  for (const u of [U1, U2])
    execFileSync('useradd', [
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      '--user-group',
      u,
    ]);
});
test.after.always(() => {
  if (!haveUseradd) return;
  for (const u of [U1, U2]) {
    try {
      execFileSync('pkill', ['-KILL', '-u', u]);
    } catch {}
    try {
      execFileSync('userdel', [u]);
    } catch {}
  }
  try {
    execFileSync('groupdel', [ADMINS]);
  } catch {}
});

/** `sleep 600` as `user` (root if undefined); its pid. */
function sleeper(t: { teardown(f: () => void): void }, user?: string): number {
  const pre = user ? ['--reuid', user, '--regid', user, '--clear-groups'] : ['--reuid', '0'];
  const p: ChildProcess = spawn('setpriv', [...pre, 'sleep', '600'], { stdio: 'ignore' });
  t.teardown(() => p.kill('SIGKILL'));
  return p.pid as number;
}

async function execed(pid: number): Promise<void> {
  await until(`pid ${pid} to exec sleep`, () => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep';
    } catch {
      return false;
    }
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('local users act on their own processes and jobs only; root and the admin group on all', async (t) => {
  if (!haveUseradd) {
    t.log('SKIPPED: useradd/groupadd missing: no users to test with');
    t.pass();
    return;
  }
  const server = await natsServer(t);
  const d = await startDaemon(t, {
    url: server.url,
    node: 'authz',
    args: ['--admin-group', ADMINS],
  });
  const sock = join(d.stateDir, 'ckpt.sock');
  t.is(statSync(sock).mode & 0o777, 0o666, 'every local user may connect');
  t.is(statSync(d.stateDir).mode & 0o777, 0o711, 'the state dir is reachable, not listable');
  t.is(JSON.parse(readFileSync(join(d.stateDir, 'daemon.json'), 'utf8')).socket, sock);

  const audit: Array<Record<string, unknown>> = [];
  const nc = await natsConnect({ servers: server.url });
  t.teardown(() => nc.close());
  nc.subscribe('ft.audit.cmd.authz.>', {
    callback: (_e, m) => {
      audit.push(m.json());
    },
  });
  await nc.flush();
  const sd = ['--state-dir', d.stateDir];

  const p1 = sleeper(t, U1);
  const p2 = sleeper(t, U2);
  const p0 = sleeper(t);
  await Promise.all([execed(p1), execed(p2), execed(p0)]);

  // each user attaches their own process
  const a1 = await ckptAs(U1, ['attach', '--job', 'one', '--json', ...sd, String(p1)]);
  t.is(a1.code, 0, a1.stderr);
  const j1 = JSON.parse(a1.stdout).job;
  t.is(j1.owner.uid, idOf('-u', U1));
  t.deepEqual(j1.owner.groups, [], 'the groups the process has (setpriv cleared them)');
  const a2 = await ckptAs(U2, ['attach', '--job', 'two', '--json', ...sd, String(p2)]);
  t.is(a2.code, 0, a2.stderr);

  // `ckpt run` as a user: the job is theirs (its wrapper attaches through the socket)
  const run = await ckptAs(U1, ['run', '--job', 'ran', ...sd, '--', '/bin/true']);
  t.is(run.code, 0, run.stderr);

  // ... and nothing of anyone else's
  const refused: Array<[string, string[], RegExp]> = [
    [
      'attach',
      ['attach', '--job', 'theirs', ...sd, String(p2)],
      /attach theirs \(pid \d+\) refused: it belongs to uid/,
    ],
    [
      'attach',
      ['attach', '--job', 'roots', ...sd, String(p0)],
      /attach roots \(pid \d+\) refused: it belongs to uid 0/,
    ],
    ['checkpoint', ['checkpoint', '--job', 'two', ...sd], /checkpoint of job two refused/],
    [
      'checkpoint',
      ['checkpoint', '--job', 'two', '--kill', ...sd],
      /checkpoint of job two refused/,
    ],
    ['detach', ['detach', '--job', 'two', ...sd], /detach of job two refused/],
    ['restart', ['restart', '--job', 'two', ...sd], /restart of job two refused/],
    ['resume', ['resume', '--job', 'two', ...sd], /resume of job two refused/],
    ['attach', ['attach', '--job', 'two', ...sd, String(p1)], /over the registered job/],
  ];
  for (const [verb, args, says] of refused) {
    const r = await ckptAs(U1, args);
    t.not(r.code, 0, `${args.join(' ')}: ${r.stdout}`);
    t.regex(r.stderr, says, args.join(' '));
    t.regex(r.stderr, new RegExp(`${verb}`), args.join(' '));
  }
  t.true(alive(p2), "the other user's process lives on");
  t.true(alive(p0), "root's process lives on");

  // a user's listing holds their own jobs; root's holds all
  const l1 = await ckptAs(U1, ['jobs', '--json', ...sd]);
  const mine = JSON.parse(l1.stdout) as Array<{ id: string; owner: { uid: number } }>;
  t.deepEqual(mine.map((j) => j.id).sort(), ['one', 'ran']);
  t.true(mine.every((j) => j.owner.uid === idOf('-u', U1)));
  const admin = await ckptAs(U1, ['jobs', '--json', ...sd], { groups: [ADMINS] });
  t.deepEqual(
    JSON.parse(admin.stdout)
      .map((j: { id: string }) => j.id)
      .sort(),
    ['one', 'ran', 'two'],
    'a member of the admin group sees every job',
  );

  // the refusals changed nothing: job two is registered, running, with no image
  const two = JSON.parse((await ckptAs(U2, ['jobs', '--json', ...sd])).stdout)[0];
  t.is(two.id, 'two');
  t.is(two.state, 'running');
  t.is(two.pid, p2);
  t.is(two.lastImage, undefined);

  // each refusal: an audit record naming the caller's uid and FORBIDDEN
  await until('audit records of the refusals', () => {
    const f = audit.filter(
      (a) => (a.reply as { error?: { code: string } }).error?.code === 'FORBIDDEN',
    );
    return f.length >= refused.length;
  });
  const forbidden = audit.filter(
    (a) => (a.reply as { error?: { code: string } }).error?.code === 'FORBIDDEN',
  );
  for (const a of forbidden) {
    t.like(a.caller, { via: 'socket', uid: idOf('-u', U1) });
  }
  t.regex(d.stderr(), /command refused/);

  // the admin group acts on all: detach U2's job
  const det = await ckptAs(U1, ['detach', '--job', 'two', ...sd], { groups: [ADMINS] });
  t.is(det.code, 0, det.stderr);
  // root too (its CLI uses the socket as well): it attaches U2's process,
  // the job belonging to U2 (the owner comes from /proc, not the caller)
  const rootEnv = { ...process.env, CKPT_BUS_URL: '' };
  execFileSync(CKPT, ['attach', '--job', 'two-again', ...sd, String(p2)], {
    encoding: 'utf8',
    env: rootEnv,
  });
  const rootList = JSON.parse(
    execFileSync(CKPT, ['jobs', '--json', ...sd], { encoding: 'utf8', env: rootEnv }),
  ) as Array<{ id: string; owner: { uid: number } }>;
  t.deepEqual(rootList.map((j) => j.id).sort(), ['one', 'ran', 'two-again']);
  t.is(rootList.find((j) => j.id === 'two-again')?.owner.uid, idOf('-u', U2));
});

test('the socket refuses an oversized or malformed line with a clear error', async (t) => {
  const server = await natsServer(t);
  const d = await startDaemon(t, { url: server.url, node: 'authzline' });
  const ask = (payload: string) =>
    new Promise<string>((resolve, reject) => {
      const s = connect(join(d.stateDir, 'ckpt.sock'));
      let got = '';
      s.on('data', (x) => {
        got += x;
      });
      s.on('close', () => resolve(got));
      s.on('error', reject);
      s.end(payload);
    });
  const big = await ask(`status ${'x'.repeat(70 * 1024)}\n`);
  t.regex(big, /"code":"BAD_REQUEST".*at most \d+ per line/);
  const noverb = await ask('{"job":"x"}\n');
  t.regex(noverb, /expected 'VERB JSON-BODY'/);
  const deep = await ask(`jobs ${'['.repeat(100)}\n`);
  t.regex(deep, /"ok":false/);
  const ok = JSON.parse(await ask('status {}\n'));
  t.true(ok.ok);
  t.is(ok.node, 'authzline');
});

const rssKiB = (pid: number) =>
  Number(/^VmRSS:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

test('a client that sends requests and never reads the replies does not grow the daemon', async (t) => {
  const server = await natsServer(t);
  const d = await startDaemon(t, { url: server.url, node: 'authzflood' });
  const pid = d.proc.pid as number;
  const before = rssKiB(pid);
  const s = connect(join(d.stateDir, 'ckpt.sock'));
  t.teardown(() => s.destroy());
  s.on('error', () => {});
  s.pause(); // never reads
  const lines = Buffer.from('jobs {}\n'.repeat(8192));
  let sent = 0;
  const end = Date.now() + 8000;
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (Date.now() < end) {
        sent += lines.length;
        if (!s.write(lines)) {
          s.once('drain', pump);
          return;
        }
      }
      resolve();
    };
    s.once('connect', pump);
    setTimeout(resolve, 8500);
  });
  const grown = (rssKiB(pid) - before) / 1024;
  t.log(`sent ${sent} bytes of requests; the daemon grew by ${grown.toFixed(0)} MiB`);
  t.true(grown < 64, `the daemon grew by ${grown.toFixed(0)} MiB for a client that never reads`);
  s.destroy();
  // others are answered at once
  const ok = await new Promise<string>((resolve) => {
    const c = connect(join(d.stateDir, 'ckpt.sock'));
    let got = '';
    c.on('data', (x) => {
      got += x;
    });
    c.on('close', () => resolve(got));
    c.end('status {}\n');
  });
  t.true(JSON.parse(ok).ok);
});

test('one user cannot take every descriptor of the daemon with idle connections', async (t) => {
  if (!haveUseradd) {
    t.log('SKIPPED: useradd missing');
    t.pass();
    return;
  }
  const server = await natsServer(t);
  const d = await startDaemon(t, { url: server.url, node: 'authzconns' });
  const pid = d.proc.pid as number;
  const sock = join(d.stateDir, 'ckpt.sock');
  const fds = fdCount(pid);
  // U1 opens 300 connections and holds them, printing what each was told
  const script = `
    const net = require('node:net');
    const out = { open: 0, refused: 0, said: '' };
    let done = 0;
    for (let i = 0; i < 300; i++) {
      const s = net.connect(${JSON.stringify(sock)});
      s.on('connect', () => { out.open++; });
      s.on('data', (x) => { out.refused++; out.said = String(x); });
      s.on('error', () => {});
      s.on('close', () => { out.open--; });
    }
    setTimeout(() => { console.log(JSON.stringify(out)); process.exit(0); }, 4000);
  `;
  const held = spawn(
    'setpriv',
    ['--reuid', U1, '--regid', U1, '--clear-groups', process.execPath, '-e', script],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => held.kill('SIGKILL'));
  const heldExit = new Promise<void>((r) => held.on('exit', () => r()));
  let out = '';
  held.stdout.on('data', (x) => {
    out += x;
  });
  await until('the connections to be made', () => fdCount(pid) > fds + 10, 5000).catch(() => 0);
  await new Promise((r) => setTimeout(r, 1500));
  const grew = fdCount(pid) - fds;
  // root is still answered while they are held
  const ok = await new Promise<string>((resolve) => {
    const c = connect(sock);
    let got = '';
    c.on('data', (x) => {
      got += x;
    });
    c.on('close', () => resolve(got));
    c.end('status {}\n');
  });
  t.true(JSON.parse(ok).ok, ok);
  await heldExit;
  const r = JSON.parse(out) as { open: number; refused: number; said: string };
  t.log(`daemon descriptors grew by ${grew}; ${JSON.stringify(r)}`);
  t.true(grew <= 40, `one user holds ${grew} of the daemon's descriptors`);
  t.true(r.refused >= 250, 'the connections beyond the limit were told why');
  t.regex(r.said, /"code":"BUSY".*connections/);
});

test("a user's job cannot claim another user's name nor put escape sequences on root's terminal", async (t) => {
  if (!haveUseradd) {
    t.log('SKIPPED: useradd missing');
    t.pass();
    return;
  }
  const server = await natsServer(t);
  const d = await startDaemon(t, { url: server.url, node: 'authzname' });
  const sock = join(d.stateDir, 'ckpt.sock');
  const p1 = sleeper(t, U1);
  await execed(p1);
  const uid = idOf('-u', U1);
  const gid = idOf('-g', U1);
  /** One request as U1 through the socket; the reply. */
  const asU1 = (line: string) =>
    execFileSync(
      'setpriv',
      [
        '--reuid',
        U1,
        '--regid',
        U1,
        '--clear-groups',
        process.execPath,
        '-e',
        `const s = require('node:net').connect(${JSON.stringify(sock)}); let g = '';
         s.on('data', (x) => { g += x; }); s.on('close', () => process.stdout.write(g));
         s.end(${JSON.stringify(`${line}\n`)});`,
      ],
      { encoding: 'utf8' },
    );
  // U1's own process, declared as root's by name
  const named = JSON.parse(
    asU1(`attach ${JSON.stringify({ job: 'named', pid: p1, owner: { uid, gid, user: 'root' } })}`),
  );
  t.false(named.ok, JSON.stringify(named));
  t.is(named.error.code, 'FORBIDDEN');
  t.regex(named.error.message, new RegExp(`declares user root, but uid ${uid} is ${U1}`));
  // a command line made of terminal escapes (set the title, clear the screen)
  const esc = JSON.parse(
    asU1(
      `attach ${JSON.stringify({ job: 'esc', pid: p1, command: ['\x1b]0;owned\x07', 'x\x1b[2J\x9b1m'] })}`,
    ),
  );
  t.true(esc.ok, JSON.stringify(esc));
  t.is(esc.job.owner.user, U1, 'the daemon names the owner from the uid');
  const shown = execFileSync(CKPT, ['jobs', '--state-dir', d.stateDir], {
    encoding: 'utf8',
    env: { ...process.env, CKPT_BUS_URL: '' },
  });
  const control = [...shown].filter((ch) => {
    const c = ch.codePointAt(0) as number;
    return (c < 0x20 && c !== 0x0a) || (c >= 0x7f && c <= 0x9f);
  });
  t.deepEqual(control, [], 'no control character reaches the terminal');
  t.regex(shown, /\\x1b\]0;owned\\x07 x\\x1b\[2J\\x9b1m/, 'shown escaped');
  t.regex(shown, new RegExp(`esc .* ${U1} `));
});

test('one user cannot register jobs without bound (each holds images on the daemon disk)', async (t) => {
  if (!haveUseradd) {
    t.log('SKIPPED: useradd missing');
    t.pass();
    return;
  }
  const server = await natsServer(t);
  const d = await startDaemon(t, { url: server.url, node: 'authzquota' });
  const sock = join(d.stateDir, 'ckpt.sock');
  const p1 = sleeper(t, U1);
  await execed(p1);
  // 70 attaches on one connection, as U1
  const script = `
    const s = require('node:net').connect(${JSON.stringify(sock)});
    let g = '';
    s.on('data', (x) => { g += x; });
    s.on('close', () => process.stdout.write(g));
    for (let i = 0; i < 70; i++) s.write('attach ' + JSON.stringify({ job: 'q' + i, pid: ${p1} }) + '\\n');
    s.end();
  `;
  const out = execFileSync(
    'setpriv',
    ['--reuid', U1, '--regid', U1, '--clear-groups', process.execPath, '-e', script],
    { encoding: 'utf8' },
  );
  const replies = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { ok: boolean; error?: { code: string; message: string } });
  t.is(replies.length, 70);
  t.is(replies.filter((r) => r.ok).length, 64, 'a user holds at most 64 jobs');
  const refused = replies.filter((r) => !r.ok);
  t.true(refused.every((r) => r.error?.code === 'FORBIDDEN'));
  t.regex(
    refused[0]?.error?.message ?? '',
    /uid \d+ has 64 jobs on authzquota: at most 64 per user/,
  );
  // root is not limited
  const root = await new Promise<string>((resolve) => {
    const c = connect(sock);
    let got = '';
    c.on('data', (x) => {
      got += x;
    });
    c.on('close', () => resolve(got));
    c.end(`attach ${JSON.stringify({ job: 'byroot', pid: p1 })}\n`);
  });
  t.true(JSON.parse(root).ok, root);
});

test('an adminGroup that names no group, or is no group name at all, stops the daemon at start naming it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-admingroup-'));
  for (const [group, says] of [
    ['nosuchgrp-ckpt', /adminGroup 'nosuchgrp-ckpt': no such group/],
    ['bad;name', /adminGroup 'bad;name': expected a group name or a gid/],
  ] as const) {
    const r = spawnSync(CKPT, ['daemon', '--state-dir', dir, '--admin-group', group], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    t.is(r.status, 3, `${group}: ${r.stderr}`);
    t.regex(r.stderr, says);
    t.false(existsSync(join(dir, 'ckpt.sock')), `${group}: no socket left serving`);
  }
});
