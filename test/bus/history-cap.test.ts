/**
 * The history stream's cap against what the NATS server can reserve: nats-server reserves a
 * stream's max_bytes up front against its max_file_store (by default 75% of the free space
 * where its store lives), so the daemon's 1 GiB default could not be created on a small disk
 * or a tmpfs and the daemon did not start. The automatic cap now halves until the server can
 * reserve it and says so; an explicit cap it cannot reserve is an error that says what to do.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import test from 'ava';
import { BusConnectionError } from '../../src/bus/errors.js';
import { HISTORY_DEFAULTS } from '../../src/bus/history.js';
import { loadConfig } from '../../src/daemon/config.js';
import { useNatsServer } from '../helpers/nats.js';
import { collect, openBus } from './fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'ckpt-histcap-'));
const conf = join(dir, 'small.conf');
const STORE = 100 * 1024 ** 2;
writeFileSync(conf, `jetstream {\n  max_file_store: ${STORE}\n}\n`);
const nats = useNatsServer(test, { configFile: conf });
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

async function streamMaxBytes(url: string, stream: string): Promise<number> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    return (await jsm.streams.info(stream)).config.max_bytes;
  } finally {
    await nc.close();
  }
}

test.serial(
  'an explicit cap the server cannot reserve stops the bus with an error that says so',
  async (t) => {
    const { url } = await nats.ready();
    const err = await t.throwsAsync(
      openBus(t, url, { node: 'cap1', history: { stream: 'CAP_EXPLICIT', maxBytes: 1024 ** 3 } }),
      { instanceOf: BusConnectionError },
    );
    t.regex(err?.message ?? '', /history stream CAP_EXPLICIT/);
    t.regex(err?.message ?? '', /cannot reserve 1073741824 bytes/);
    t.regex(err?.message ?? '', /bus\.historyMaxBytes/);
  },
);

test.serial(
  'the automatic cap halves until the server can reserve it, says so, and the history works',
  async (t) => {
    const { url } = await nats.ready();
    const { bus, lines } = await openBus(t, url, { node: 'cap2', history: { stream: 'CAP_AUTO' } });
    const got = await streamMaxBytes(url, 'CAP_AUTO');
    t.true(got < STORE, `cap ${got} fits the server's ${STORE}`);
    t.true(got >= STORE / 2, `cap ${got} is the largest halving of the default that fits`);
    t.is(HISTORY_DEFAULTS.maxBytes % got, 0);
    const warn = lines.find(
      (l) => l.level === 40 && /history stream CAP_AUTO capped at/.test(l.msg),
    );
    t.truthy(warn, 'a warning names the cap taken');
    t.is(warn?.maxBytes, got);
    await bus.publishResult('ckpt', 'begin', {
      job: 'j1',
      pid: 100,
      trigger: { policy: 'command', kind: 'command' },
    });
    const entries = await collect(bus.history({ node: 'cap2' }));
    t.deepEqual(
      entries.map((e) => e.subject),
      ['ft.ckpt.cap2.j1.begin'],
    );
    await bus.close({ timeoutMs: 1_000 });
    // A second start finds the stream as it is and leaves it so.
    const again = await openBus(t, url, { node: 'cap2', history: { stream: 'CAP_AUTO' } });
    t.is(await streamMaxBytes(url, 'CAP_AUTO'), got);
    t.is(again.lines.filter((l) => /history stream configuration updated/.test(l.msg)).length, 0);
  },
);

test('bus.historyMaxBytes: 0, -1 and at least 1 MiB are taken; anything else is named', (t) => {
  const env = { CKPT_STATE_DIR: dir };
  t.is(loadConfig({ env }).bus.historyMaxBytes, 0);
  t.is(loadConfig({ env, args: ['--history-max-bytes', '-1'] }).bus.historyMaxBytes, -1);
  t.is(
    loadConfig({ env: { ...env, CKPT_HISTORY_MAX_BYTES: '2097152' } }).bus.historyMaxBytes,
    2097152,
  );
  for (const bad of ['1000', '-5', 'lots', '1048576.5', '', '1KiB']) {
    const err = t.throws(() => loadConfig({ env, args: ['--history-max-bytes', bad] }));
    t.regex(err?.message ?? '', /historyMaxBytes/, bad);
    t.regex(err?.message ?? '', /at least 1 MiB/, bad);
  }
});
