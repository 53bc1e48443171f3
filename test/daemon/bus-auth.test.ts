/**
 * Issue 12, item 1: the daemon and the CLI work against a nats-server that requires
 * user/password, a token, an nkey, a .creds file (JWTs made here with @nats-io/jwt and
 * @nats-io/nkeys: nsc is not in Debian) and TLS with client certificates (openssl); a client
 * without credentials is refused by the server and reaches nothing the daemon acts on.
 * Real nats-server, real `ckpt daemon`, real `ckpt` verbs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeAccount, encodeOperator, encodeUser, fmtCreds } from '@nats-io/jwt';
import { createAccount, createOperator, createUser } from '@nats-io/nkeys';
import { connect } from '@nats-io/transport-node';
import test, { type ExecutionContext } from 'ava';
import { type NatsServerOptions, startNatsServer } from '../../src/bus/server.js';
import { runCli } from '../cli/run-cli.js';
import { startDaemon } from './fixture.js';

const dec = new TextDecoder();

interface Case {
  /** Server options (config file, arguments, scheme). */
  server: NatsServerOptions;
  /** What the daemon and the CLI are given (arguments and environment). */
  args: string[];
  env?: Record<string, string>;
  /** The URL clients use, when it differs from the server's (credentials in it). */
  url?: (url: string) => string;
}

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'ckpt-busauth-'));
}

function secretFile(d: string, name: string, value: string): string {
  const f = join(d, name);
  writeFileSync(f, `${value}\n`, { mode: 0o600 });
  return f;
}

async function check(t: ExecutionContext, name: string, c: Case): Promise<void> {
  const server = await startNatsServer({ jetstream: true, ...c.server });
  t.teardown(() => server.stop());
  const url = c.url ? c.url(server.url) : server.url;
  const node = `auth-${name}`;

  // no credentials: the server refuses the connection
  const anon = await connect({ servers: server.url, reconnect: false, ...tlsOnly(c) }).then(
    async (nc) => {
      await nc.close();
      return 'connected';
    },
    (err: Error) => err.message,
  );
  t.regex(anon, /Authorization Violation|certificate|ECONNRESET|EPIPE/i, `${name}: anon`);

  const d = await startDaemon(t, { url, node, args: c.args, env: c.env });
  t.true(d.proc.exitCode === null, `${name}: the daemon runs`);
  const status = await runCli(
    'ckpt',
    ['status', '--json', '--bus', url, '--node', node, ...c.args],
    {
      env: { ...c.env, CKPT_STATE_DIR: d.stateDir },
    },
  );
  t.is(status.code, 0, `${name}: ckpt status: ${status.stderr}`);
  t.is(JSON.parse(status.stdout).node, node, name);
  const jobs = await runCli('ckpt', ['jobs', '--bus', url, '--node', node, ...c.args], {
    env: { ...c.env, CKPT_STATE_DIR: d.stateDir },
  });
  t.is(jobs.code, 0, `${name}: ckpt jobs: ${jobs.stderr}`);
  // the same verb without credentials: refused by the server, in one line, exit 3
  const bare = await runCli(
    'ckpt',
    ['status', '--bus', server.url, '--node', node, ...tlsArgs(c)],
    {
      env: { CKPT_STATE_DIR: d.stateDir },
    },
  );
  t.is(bare.code, 3, `${name}: ${bare.stderr}`);
  t.regex(bare.stderr, /Authorization Violation|certificate|ECONNRESET|EPIPE/i, name);
  await d.stop();
}

/** TLS settings only (an unauthenticated client may still speak TLS). */
function tlsOnly(c: Case): { tls?: { caFile: string } } {
  const i = c.args.indexOf('--bus-tls-ca');
  return i >= 0 ? { tls: { caFile: c.args[i + 1] as string } } : {};
}
function tlsArgs(c: Case): string[] {
  const i = c.args.indexOf('--bus-tls-ca');
  return i >= 0 ? ['--bus-tls-ca', c.args[i + 1] as string] : [];
}

test('user and password: from a password file, from the environment, in the URL', async (t) => {
  const d = dir();
  const pass = 's3cret-Pass_1';
  const pw = secretFile(d, 'pw', pass);
  const server = { args: ['--user', 'sched', '--pass', pass] };
  await check(t, 'userfile', { server, args: ['--bus-user', 'sched', '--bus-password-file', pw] });
  await check(t, 'userenv', {
    server,
    args: [],
    env: { CKPT_BUS_USER: 'sched', CKPT_BUS_PASSWORD: pass },
  });
  await check(t, 'userurl', {
    server,
    args: [],
    url: (u) => u.replace('nats://', `nats://sched:${encodeURIComponent(pass)}@`),
  });
});

test('token: from a file and from the environment', async (t) => {
  const d = dir();
  const token = 'tok-0123456789abcdef';
  const server = { args: ['--auth', token] };
  await check(t, 'tokenfile', { server, args: ['--bus-token-file', secretFile(d, 'tok', token)] });
  await check(t, 'tokenenv', { server, args: [], env: { CKPT_BUS_TOKEN: token } });
});

test('nkey seed', async (t) => {
  const d = dir();
  const user = createUser();
  const conf = join(d, 'nkey.conf');
  writeFileSync(conf, `authorization { users = [ { nkey: ${user.getPublicKey()} } ] }\n`);
  const seed = secretFile(d, 'user.nk', dec.decode(user.getSeed()));
  await check(t, 'nkey', { server: { configFile: conf }, args: ['--bus-nkey', seed] });
});

test('a .creds file (operator, account and user JWTs)', async (t) => {
  const d = dir();
  const operator = createOperator();
  const account = createAccount();
  const sys = createAccount();
  const user = createUser();
  const opJwt = await encodeOperator('ckpt-test', operator, {
    system_account: sys.getPublicKey(),
  });
  const jsLimits = {
    limits: {
      mem_storage: -1,
      disk_storage: -1,
      streams: -1,
      consumer: -1,
      subs: -1,
      data: -1,
      payload: -1,
      imports: -1,
      exports: -1,
      wildcards: true,
      conn: -1,
      leaf: -1,
    },
  };
  const accJwt = await encodeAccount('ckpt', account, jsLimits, { signer: operator });
  const sysJwt = await encodeAccount('SYS', sys, {}, { signer: operator });
  const userJwt = await encodeUser('ckpt-daemon', user, account);
  const creds = join(d, 'user.creds');
  writeFileSync(creds, fmtCreds(userJwt, user), { mode: 0o600 });
  const conf = join(d, 'op.conf');
  writeFileSync(
    conf,
    `operator: ${opJwt}
system_account: ${sys.getPublicKey()}
resolver: MEMORY
resolver_preload: {
  ${account.getPublicKey()}: ${accJwt}
  ${sys.getPublicKey()}: ${sysJwt}
}
`,
  );
  await check(t, 'creds', { server: { configFile: conf }, args: ['--bus-creds', creds] });
});

test('TLS with client certificates (verify)', async (t) => {
  const d = dir();
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: d, stdio: 'pipe' });
  ossl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=ckpt-test-ca',
  );
  const leaf = (name: string, ext: string) => {
    writeFileSync(join(d, `${name}.ext`), ext);
    ossl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${name}`,
    );
    ossl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    );
  };
  leaf('server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'extendedKeyUsage=clientAuth\n');
  const conf = join(d, 'tls.conf');
  writeFileSync(
    conf,
    `tls {
  cert_file: "${join(d, 'server.pem')}"
  key_file: "${join(d, 'server.key')}"
  ca_file: "${join(d, 'ca.pem')}"
  verify: true
}
`,
  );
  await check(t, 'tls', {
    server: { configFile: conf, scheme: 'tls' },
    args: [
      '--bus-tls-ca',
      join(d, 'ca.pem'),
      '--bus-tls-cert',
      join(d, 'client.pem'),
      '--bus-tls-key',
      join(d, 'client.key'),
    ],
  });
});

test('conflicting or unreadable credentials are a clear error naming them', async (t) => {
  const r = await runCli('ckpt', [
    'status',
    '--bus',
    'nats://127.0.0.1:1',
    '--node',
    'x',
    '--bus-token-file',
    '/nonexistent/token',
  ]);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /bus token file: cannot read \/nonexistent\/token \(ENOENT\)/);
  const d = dir();
  const both = await runCli(
    'ckpt',
    [
      'status',
      '--bus',
      'nats://127.0.0.1:1',
      '--node',
      'x',
      '--bus-nkey',
      secretFile(d, 'n', 'SUxx'),
    ],
    { env: { CKPT_BUS_TOKEN: 't' } },
  );
  t.is(both.code, 2, both.stderr);
  t.regex(
    both.stderr,
    /give one of user\/password, token, nkey seed or creds file, not token and nkey seed/,
  );
});
