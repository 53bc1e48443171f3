import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import test from 'ava';
import { NatsServerError } from '../../src/bus/errors.js';
import { startNatsServer } from '../../src/bus/server.js';
import { natsServer } from '../helpers/nats.js';

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port }, () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

test('starts on a random port with JetStream, restarts on the same port keeping the store', async (t) => {
  const server = await natsServer(t);
  t.true(server.port > 0);
  t.is(server.url, `nats://127.0.0.1:${server.port}`);
  t.truthy(server.storeDir);
  const firstPid = server.pid;
  t.true(firstPid > 0);

  const nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'KEEP', subjects: ['keep.>'] });
  await nc.close();

  await server.restart();
  t.not(server.pid, firstPid);
  const nc2 = await connect({ servers: server.url });
  const jsm2 = await jetstreamManager(nc2);
  const info = await jsm2.streams.info('KEEP');
  t.deepEqual(info.config.subjects, ['keep.>']);
  await nc2.close();

  await server.stop();
  t.is(server.pid, -1);
  t.false(await canConnect(server.port));
  await server.stop(); // idempotent
});

test('a given store dir is used and a given log file is written', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-bus-srv-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const storeDir = join(dir, 'store');
  const logFile = join(dir, 'nats.log');
  const server = await natsServer(t, { storeDir, logFile });
  t.is(server.storeDir, storeDir);
  t.true(existsSync(logFile));
  t.true(readdirSync(storeDir).includes('jetstream'));
});

test('without JetStream there is no store and JetStream calls fail', async (t) => {
  const server = await natsServer(t, { jetstream: false });
  t.is(server.storeDir, undefined);
  const nc = await connect({ servers: server.url });
  t.teardown(() => nc.close());
  await t.throwsAsync(jetstreamManager(nc));
});

test('a port already in use is a NatsServerError naming the address', async (t) => {
  const server = await natsServer(t, { jetstream: false });
  const err = await t.throwsAsync(startNatsServer({ port: server.port, jetstream: false }), {
    instanceOf: NatsServerError,
  });
  t.regex(err?.message ?? '', new RegExp(`127\\.0\\.0\\.1:${server.port}`));
  t.is(err?.code, 'NATS_SERVER');
});
