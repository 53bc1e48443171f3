/**
 * `ckpt monitor` end to end: a real nats-server, the real CLI reading a sysfs
 * tree the test changes, and a NATS subscriber checking the events it publishes.
 */
import { spawn } from 'node:child_process';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import test from 'ava';
import type { HealthEvent } from '../../src/shared/types.js';
import { BIN } from '../cli/run-cli.js';
import { natsServer } from '../helpers/nats.js';
import { createFakeTree } from './sysfs-tree.js';

/** Collects events from a subscription and waits for the next one matching. */
function collector(nc: NatsConnection, subject: string) {
  const seen: { subject: string; event: HealthEvent }[] = [];
  const waiters: { match: (e: HealthEvent) => boolean; resolve: (e: HealthEvent) => void }[] = [];
  const sub = nc.subscribe(subject);
  (async () => {
    for await (const m of sub) {
      const event = m.json<HealthEvent>();
      seen.push({ subject: m.subject, event });
      for (const w of waiters.splice(0)) {
        if (w.match(event)) w.resolve(event);
        else waiters.push(w);
      }
    }
  })();
  return {
    seen,
    next(match: (e: HealthEvent) => boolean, timeoutMs = 10_000): Promise<HealthEvent> {
      const already = seen.find((s) => match(s.event));
      if (already) return Promise.resolve(already.event);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `no matching event; seen: ${JSON.stringify(seen.map((s) => s.event.type))}`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({
          match,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e);
          },
        });
      });
    },
  };
}

test('the monitor publishes EDAC, thermal and PSI events as the tree changes', async (t) => {
  const nats = await natsServer(t);
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const events = collector(nc, 'ft.health.>');
  await nc.flush();

  const tree = createFakeTree();
  tree.setEdac(0, 100, 0);
  const trips = [
    { type: 'hot', milliC: 90_000 },
    { type: 'critical', milliC: 100_000 },
  ];
  tree.setZone(0, 40_000, trips);
  tree.setPsi('cpu', 1);
  tree.setPsi('memory', 1);
  tree.setPsi('io', 1);

  const args = [
    'monitor',
    '--root',
    tree.root,
    '--bus',
    nats.url,
    '--node',
    'n7',
    '--interval',
    '0.1',
  ];
  const monitor = spawn(
    `${BIN}/ckpt`,
    [...args, '--ce-count', '3', '--ce-window', '60', '--psi-memory', '30'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  monitor.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) =>
    monitor.on('exit', (code) => resolve(code)),
  );
  t.teardown(() => monitor.kill('SIGKILL'));
  const readyBy = Date.now() + 15_000;
  while (!stderr.includes('ready') && Date.now() < readyBy)
    await new Promise((r) => setTimeout(r, 20));
  t.regex(
    stderr,
    /node n7: 1 EDAC controller\(s\), 1 thermal zone\(s\), PSI cpu\/memory\/io; ready/,
  );
  t.deepEqual(events.seen, [], 'a healthy baseline publishes nothing');

  tree.setEdac(0, 100, 1);
  const ue = await events.next((e) => e.type === 'node.memory.uncorrected');
  t.is(ue.severity, 'fatal');
  t.is(ue.node, 'n7');
  t.is(ue.specversion, '1.0');
  t.is(ue.source, 'ckpt-monitor');
  t.like(ue.data, { controller: 'mc0', ueCount: 1, new: 1 });
  t.true(events.seen.some((s) => s.subject === 'ft.health.n7.ckpt-monitor'));

  tree.setEdac(0, 104, 1);
  const ce = await events.next((e) => e.type === 'node.memory.corrected_rate');
  t.is(ce.severity, 'warning');
  t.like(ce.data, { inWindow: 4, threshold: 3 });

  tree.setZone(0, 97_000, trips);
  const hot = await events.next((e) => e.type === 'node.thermal.hot');
  t.is(hot.severity, 'warning');
  const critical = await events.next((e) => e.type === 'node.thermal.critical');
  t.is(critical.severity, 'fatal');
  t.like(critical.data, { zone: 'thermal_zone0', tempC: 97, criticalC: 100 });

  tree.setPsi('memory', 55);
  const psi = await events.next((e) => e.type === 'node.pressure.memory');
  t.is(psi.severity, 'warning');
  t.like(psi.data, { resource: 'memory', someAvg10: 55, threshold: 30 });

  tree.setZone(0, 50_000, trips);
  const cleared = await events.next((e) => e.type === 'node.thermal.critical.cleared');
  t.is(cleared.severity, 'info');

  // each alert was raised exactly once although the monitor sampled many times
  await new Promise((r) => setTimeout(r, 400));
  const count = (type: string) => events.seen.filter((s) => s.event.type === type).length;
  t.is(count('node.thermal.critical'), 1);
  t.is(count('node.memory.corrected_rate'), 1);
  t.is(count('node.pressure.memory'), 1);
  t.is(count('node.memory.uncorrected'), 1);

  monitor.kill('SIGTERM');
  t.is(await exited, 0, stderr);
});

test('the monitor reports a malformed sensor and keeps going', async (t) => {
  const nats = await natsServer(t);
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const events = collector(nc, 'ft.health.>');
  await nc.flush();
  const tree = createFakeTree();
  tree.setEdac(0, 0, 0);
  const monitor = spawn(
    `${BIN}/ckpt`,
    ['monitor', '--root', tree.root, '--bus', nats.url, '--node', 'n8', '--interval', '0.1'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  monitor.stderr.on('data', (d) => {
    stderr += d;
  });
  t.teardown(() => monitor.kill('SIGKILL'));
  while (!stderr.includes('ready')) await new Promise((r) => setTimeout(r, 20));
  const { writeFileSync } = await import('node:fs');
  writeFileSync(`${tree.root}/sys/devices/system/edac/mc/mc0/ue_count`, 'garbage\n');
  while (!stderr.includes('expected an integer')) await new Promise((r) => setTimeout(r, 20));
  t.regex(stderr, /ckpt monitor: .*mc0\/ue_count: expected an integer, got 'garbage'/);
  t.false(/\n\s+at /.test(stderr), 'no stack trace');
  tree.setEdac(0, 0, 2);
  const ue = await events.next((e) => e.type === 'node.memory.uncorrected');
  t.like(ue.data, { new: 2 });
});

test('--dry-run prints events without a bus; --once exits after one sample', async (t) => {
  const tree = createFakeTree();
  tree.setZone(0, 99_000, [{ type: 'critical', milliC: 100_000 }]);
  const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    const child = spawn(
      `${BIN}/ckpt`,
      ['monitor', '--root', tree.root, '--dry-run', '--once', '--node', 'n9'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.on('close', (code) => resolve({ code, stdout }));
  });
  t.is(out.code, 0);
  const lines = out.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as HealthEvent);
  t.deepEqual(
    lines.map((e) => [e.type, e.severity, e.node]),
    [['node.thermal.critical', 'fatal', 'n9']],
  );
});

test('an unreachable bus is one line and exit 3', async (t) => {
  const tree = createFakeTree();
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(
      `${BIN}/ckpt`,
      ['monitor', '--root', tree.root, '--bus', 'nats://127.0.0.1:1'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code, stderr }));
  });
  t.is(r.code, 3);
  t.is(r.stderr, 'ckpt: cannot reach NATS at nats://127.0.0.1:1: connection refused\n');
});
