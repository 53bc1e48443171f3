/**
 * Issue 12 items 3-5: never more privilege than the job had. A normal user (made here with
 * useradd) checkpoints and restarts their own counter through the daemon with the same
 * PID, and the restored process has exactly their credentials; an image outside the image
 * directory (a path or a symlink out of it), an image edited to uid 0 with every checksum
 * recomputed, and a catalog entry the user wrote are each refused FORBIDDEN, through the
 * Unix socket and through the bus, with nothing restarted and an audit record naming it.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { connect as natsConnect } from '@nats-io/transport-node';
import test from 'ava';
import { ImageTrust } from '../../src/engine/image-trust.js';
import * as libckpt from '../../src/engine/libckpt.js';
import { natsServer } from '../helpers/nats.js';
import {
  ckptAs,
  commands,
  haveCommands,
  idOf,
  REPO,
  sleep,
  startDaemon,
  until,
} from './fixture.js';
import { forgeCreds } from './forge.js';

const COUNTER = join(REPO, 'native', 'build', 'progs', 'counter');
const USER = `ckptt${process.pid % 100000}`;
const haveUseradd = haveCommands('useradd', 'userdel');

function idsOf(pid: number): { Uid: string; Gid: string; Groups: string } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k: string) => new RegExp(`^${k}:[ \\t]*(.*)$`, 'm').exec(s)?.[1]?.trim() ?? '';
  return { Uid: get('Uid'), Gid: get('Gid'), Groups: get('Groups') };
}

/** Capability sets and no_new_privs, from /proc/PID/status. */
function privsOf(pid: number): Record<string, string> {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const out: Record<string, string> = {};
  for (const k of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs']) {
    out[k] = new RegExp(`^${k}:[ \\t]*(.*)$`, 'm').exec(s)?.[1]?.trim() ?? '';
  }
  return out;
}

/** Each descriptor number and what it names (pipes and sockets by kind, not inode). */
function fdsOf(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`)
    .map((fd) => `${fd} ${readlinkSync(`/proc/${pid}/fd/${fd}`).replace(/:\[\d+\]$/, '')}`)
    .sort();
}

test.before(() => {
  if (haveUseradd)
    execFileSync('useradd', [
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      '--user-group',
      USER,
    ]);
});
test.after.always(() => {
  if (!haveUseradd) return;
  try {
    execFileSync('pkill', ['-KILL', '-u', USER]);
  } catch {}
  try {
    execFileSync('userdel', [USER]);
  } catch {}
});

/** The counter as USER, detached (not our child); its pid. */
async function userCounter(dir: string, name: string): Promise<number> {
  const out = join(dir, `${name}.out`);
  const fd = openSync(out, 'w');
  chownSync(out, idOf('-u', USER), idOf('-g', USER));
  spawn(
    'setsid',
    [
      '-f',
      'setpriv',
      '--reuid',
      USER,
      '--regid',
      USER,
      '--clear-groups',
      COUNTER,
      join(dir, `${name}.lines`),
    ],
    { stdio: ['ignore', fd, fd], cwd: dir },
  );
  closeSync(fd);
  return until(`${name} READY`, () => {
    const m = /READY (\d+)/.exec(readFileSync(out, 'utf8'));
    return m ? Number(m[1]) : undefined;
  });
}

const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
const userCounters = () => {
  try {
    return execFileSync('pgrep', ['-u', USER, '-x', 'counter'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean);
  } catch {
    return [];
  }
};

test('a user restarts their own counter with the same PID; forged, outside and catalog-redirected images are FORBIDDEN', async (t) => {
  if (!haveUseradd) {
    t.log('SKIPPED: useradd missing: no normal user to test with');
    t.pass();
    return;
  }
  const server = await natsServer(t);
  const d = await startDaemon(t, { url: server.url, node: 'trust' });
  const sd = ['--state-dir', d.stateDir];
  const { request } = await commands(t, d);
  const audit: Array<Record<string, unknown>> = [];
  const nc = await natsConnect({ servers: server.url });
  t.teardown(() => nc.close());
  nc.subscribe('ft.audit.cmd.trust.>', {
    callback: (_e, m) => {
      audit.push(m.json());
    },
  });
  await nc.flush();

  const dir = mkdtempSync(join(tmpdir(), 'ckpt-trust-'));
  chmodSync(dir, 0o755);
  chownSync(dir, idOf('-u', USER), idOf('-g', USER));
  const pid = await userCounter(dir, 'c');
  const before = idsOf(pid);
  const privsBefore = privsOf(pid);
  const fdsBefore = fdsOf(pid);
  const uid = String(idOf('-u', USER));
  t.is(before.Uid, [uid, uid, uid, uid].join('\t'));

  // the user attaches and checkpoints their own counter through the socket
  const a = await ckptAs(USER, ['attach', '--job', 'c', ...sd, String(pid)]);
  t.is(a.code, 0, a.stderr);
  const cp = await ckptAs(USER, ['checkpoint', '--job', 'c', '--kill', '--json', ...sd]);
  t.is(cp.code, 0, cp.stderr);
  const image = JSON.parse(cp.stdout).image as string;
  t.true(image.startsWith(join(d.stateDir, 'images', 'c')), image);
  t.is(statSync(`${image}.sig`).mode & 0o777, 0o600, 'the signature beside the image');
  t.is(statSync(join(d.stateDir, 'keys', 'image.key')).mode & 0o777, 0o600);
  t.is(statSync(join(d.stateDir, 'keys')).mode & 0o777, 0o700);
  await until('the counter to be gone', () => !existsSync(`/proc/${pid}`));
  const countAtKill = lines(join(dir, 'c.lines'));

  // 1. an image outside the image directory: a copy the user may read, and a symlink
  //    inside the image directory that leads out of it
  const outside = join(dir, 'copy.ckpt');
  copyFileSync(image, outside);
  copyFileSync(`${image}.sig`, `${outside}.sig`);
  chmodSync(outside, 0o644);
  const link = join(d.stateDir, 'images', 'c', 'link.ckpt');
  symlinkSync(outside, link);
  copyFileSync(`${image}.sig`, `${link}.sig`);
  const refusals: Array<[string, string[], RegExp]> = [
    ['outside', ['restart', '--job', 'c', ...sd, outside], /outside the image directory/],
    [
      'symlink',
      ['restart', '--job', 'c', ...sd, link],
      /outside the image directory .*resolves to/,
    ],
  ];

  // 2. the image edited to uid 0 with every checksum recomputed: the engine's own reader
  //    accepts it (inspect --verify), the daemon does not
  const saved = `${image}.orig`;
  copyFileSync(image, saved);
  t.is(forgeCreds(image, 0), 1);
  const forged = (await libckpt.inspect(image, { verify: true })) as {
    processes: Array<{ uid: number; creds: { uids: number[] } }>;
  };
  t.deepEqual(forged.processes[0]?.creds.uids, [0, 0, 0, 0], 'a valid image of uid 0');
  refusals.push(['forged', ['restart', '--job', 'c', ...sd], /changed after the daemon signed it/]);

  for (const [name, args, says] of refusals) {
    const r = await ckptAs(USER, args);
    t.not(r.code, 0, name);
    t.regex(r.stderr, says, `${name}: ${r.stderr}`);
  }
  // the same through the bus
  const viaBus: Array<[string, Record<string, unknown>, RegExp]> = [
    ['outside', { job: 'c', image: outside }, /outside the image directory/],
    ['forged', { job: 'c' }, /changed after the daemon signed it/],
  ];
  for (const [name, body, says] of viaBus) {
    const r = await request('restart', body);
    t.false(r.ok, name);
    t.is((r.error as { code: string }).code, 'FORBIDDEN', name);
    t.regex((r.error as { message: string }).message, says, name);
  }

  // 3. a catalog entry the user wrote (the bus is open here) for a job of their own
  //    with no image: pointing at c's image, then at a file outside
  const victim = spawn(
    'setpriv',
    ['--reuid', USER, '--regid', USER, '--clear-groups', 'sleep', '600'],
    {
      stdio: 'ignore',
    },
  );
  const vpid = victim.pid as number;
  await until('sleep', () => {
    try {
      return readFileSync(`/proc/${vpid}/comm`, 'utf8').trim() === 'sleep';
    } catch {
      return false;
    }
  });
  const ae = await ckptAs(USER, ['attach', '--job', 'e', ...sd, String(vpid)]);
  t.is(ae.code, 0, ae.stderr);
  victim.kill('SIGKILL');
  await until('job e to end', () => !existsSync(`/proc/${vpid}`));
  const kv = await new Kvm(nc).open('ckpt_catalog');
  const rec = (await request('jobs', {})).jobs as Array<{ id: string; lastImage: object }>;
  const cRecord = rec.find((j) => j.id === 'c')?.lastImage as Record<string, unknown>;
  await kv.put('trust.e', JSON.stringify({ ...cRecord, job: 'e' }));
  const r1 = await ckptAs(USER, ['restart', '--job', 'e', ...sd]);
  t.regex(r1.stderr, /signed for job c/, r1.stderr);
  await kv.put('trust.e', JSON.stringify({ ...cRecord, job: 'e', path: outside }));
  const r2 = await request('restart', { job: 'e' });
  t.is((r2.error as { code: string }).code, 'FORBIDDEN');
  t.regex((r2.error as { message: string }).message, /outside the image directory/);

  // nothing was restarted; every refusal is audited as FORBIDDEN with its request
  t.deepEqual(userCounters(), [], 'no counter of the user runs');
  await sleep(300);
  t.is(lines(join(dir, 'c.lines')), countAtKill, 'the counter did not come back');
  await until('audit records', () => {
    const f = audit.filter(
      (x) => (x.reply as { error?: { code: string } }).error?.code === 'FORBIDDEN',
    );
    return f.length >= refusals.length + viaBus.length + 2;
  });
  const forbidden = audit.filter(
    (x) => (x.reply as { error?: { code: string } }).error?.code === 'FORBIDDEN',
  );
  t.true(forbidden.every((x) => x.verb === 'restart'));
  t.true(
    forbidden.some((x) => (x.caller as { via: string; uid?: number }).uid === idOf('-u', USER)),
    'socket refusals name the user',
  );
  t.true(forbidden.some((x) => (x.caller as { via: string }).via === 'bus'));

  // 4. the credentials check on its own: the real image against another owner
  copyFileSync(saved, image);
  const real = await libckpt.inspect(image);
  t.throws(() => ImageTrust.checkCreds(image, real, { uid: 0, gid: 0, groups: [] }), {
    message: /uid \d+\/\d+\/\d+\/\d+ .* owner .* uid 0 gid 0/,
  });
  t.notThrows(() =>
    ImageTrust.checkCreds(image, real, {
      uid: idOf('-u', USER),
      gid: idOf('-g', USER),
      groups: [],
    }),
  );

  // 5. the untouched image: the user restarts their counter, same PID, their credentials
  const rs = await ckptAs(USER, ['restart', '--job', 'c', '--json', ...sd]);
  t.is(rs.code, 0, rs.stderr);
  t.is(JSON.parse(rs.stdout).pid, pid, 'the same PID');
  const after = idsOf(pid);
  t.deepEqual(after, before, "exactly the user's credentials");
  // nothing of the daemon's (root) comes along: no capability, the same no_new_privs,
  // and no descriptor the counter did not have (the daemon's sockets, its key, its logs)
  t.deepEqual(privsOf(pid), privsBefore, 'the capabilities and no_new_privs the counter had');
  t.deepEqual(fdsOf(pid), fdsBefore, 'the descriptors the counter had, nothing more');
  await until('the counter to go on', () => lines(join(dir, 'c.lines')) > countAtKill + 3);
  process.kill(pid, 'SIGKILL');
});

test('an image directory others may write is refused at start; a job directory not the daemon own is never written', async (t) => {
  const server = await natsServer(t);
  // shared scratch: others could make <imageDir>/<job> themselves, keep the daemon's
  // images in a directory of theirs and swap one between its checks and the restart
  const scratch = mkdtempSync(join(tmpdir(), 'ckpt-scratch-'));
  chmodSync(scratch, 0o1777);
  await t.throwsAsync(
    startDaemon(t, { url: server.url, node: 'scratch', args: ['--image-dir', scratch] }),
    { message: /image directory .*ckpt-scratch-.* is writable by others \(mode 1777\)/ },
  );

  // the image directory is the daemon's, but a job directory in it belongs to nobody
  const images = mkdtempSync(join(tmpdir(), 'ckpt-images-'));
  const d = await startDaemon(t, {
    url: server.url,
    node: 'jobdir',
    args: ['--image-dir', images],
  });
  const jobDir = join(images, 'theirs');
  execFileSync('mkdir', ['-m', '0777', jobDir]);
  chownSync(jobDir, 65534, 65534);
  const { request } = await commands(t, d);
  const p = spawn(
    'setpriv',
    ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', 'sleep', '60'],
    {
      stdio: 'ignore',
    },
  );
  t.teardown(() => p.kill('SIGKILL'));
  await until('sleep to run as nobody', () => idsOf(p.pid as number).Uid.startsWith('65534'));
  await sleep(200);
  t.true((await request('attach', { job: 'theirs', pid: p.pid })).ok);
  const r = await request('checkpoint', { job: 'theirs', timeoutMs: 20_000 });
  t.false(r.ok, JSON.stringify(r));
  t.regex(
    (r.error as { message: string }).message,
    /theirs is owned by uid 65534.*expected a directory of the daemon's/,
  );
  t.false(existsSync(join(jobDir, 'theirs.1.ckpt')), 'no image in a directory of someone else');
});

test('a state directory someone else made is refused at start', async (t) => {
  const server = await natsServer(t);
  // made by nobody before the daemon's first start: nobody could later swap keys/ (the
  // image key) or jobs.json for their own, since they own the directory
  const parent = mkdtempSync(join(tmpdir(), 'ckpt-state-'));
  chmodSync(parent, 0o1777); // as /tmp is
  const stateDir = join(parent, 'state');
  execFileSync('setpriv', [
    '--reuid',
    'nobody',
    '--regid',
    'nogroup',
    '--clear-groups',
    'mkdir',
    '-m',
    '0755',
    stateDir,
  ]);
  await t.throwsAsync(startDaemon(t, { url: server.url, node: 'theirstate', stateDir }), {
    message: /state directory .*state is owned by uid 65534/,
  });
  t.false(existsSync(join(stateDir, 'keys')), 'no key was made where nobody could replace it');
});
