/**
 * Daemon benchmark (run on demand: `node dist/bench/daemon-latency.js`).
 *
 * 1. Decision latency: a fatal health event published -> the ckpt begin event
 *    received, p50/p99 over ROUNDS events, while a background publisher puts
 *    10,000 health events/s (info, not matching any rule) on the same node's
 *    subject. Goal: p99 under 2 ms.
 * 2. Highest health-event rate: N events published as fast as possible; the
 *    daemon's accepted count (status) vs a bare nats.js subscriber (its own
 *    process) on the same server in the same run, and the daemon's RSS before
 *    and after. Goal: at least 0.7 x the bare subscriber's rate, flat memory.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { createBusClient, startNatsServer } from '../src/bus/index.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CKPT = join(REPO, 'bin', 'ckpt');
const ROUNDS = Number(process.env.ROUNDS ?? 200);
const BG_PER_10MS = Number(process.env.BG ?? 10_000) / 100;
const FLOOD = Number(process.env.FLOOD ?? 200_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => pct(xs, 50);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};
const rss = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

const server = await startNatsServer({});
const dir = mkdtempSync(join(tmpdir(), 'ckpt-bench-daemon-'));
writeFileSync(
  join(dir, 'p.yaml'),
  "version: 1\npolicies:\n  - name: bench\n    kind: automatic\n    after: continue\n    rules:\n      - type: 'bench.fire'\n        severity: fatal\n",
);
const daemon = spawn(
  CKPT,
  [
    'daemon',
    '--bus',
    server.url,
    '--node',
    'b',
    '--state-dir',
    dir,
    '--metrics-port',
    '-1',
    '--log-level',
    'warn',
    '--policies',
    join(dir, 'p.yaml'),
  ],
  { stdio: 'ignore' },
);
while (!existsSync(join(dir, 'daemon.json'))) await sleep(50);
execFileSync('setsid', ['-f', 'sleep', '100000'], { stdio: 'ignore' });
const target = Number(execFileSync('pgrep', ['-n', '-x', 'sleep']).toString().trim());
const client = await createBusClient({ url: server.url });
await client.request('b', 'attach', { job: 'j', pid: target });

const nc = await connect({ servers: server.url });
let begun: (() => void) | undefined;
let ended: (() => void) | undefined;
nc.subscribe('ft.ckpt.b.j.*', {
  callback: (_e, m) => {
    if (m.subject.endsWith('.begin')) begun?.();
    else ended?.();
  },
});
await nc.flush();
const bg = await connect({ servers: server.url }); // the flood below
const info = (i: number) =>
  JSON.stringify({
    specversion: '1.0',
    id: `bg-${i}`,
    source: 'bench',
    type: 'bench.noise',
    severity: 'info',
    node: 'b',
  });
// The background publisher runs in its own process, so its bursts do not delay this
// process's own publish and receive.
const bgProc = spawn(
  process.execPath,
  [
    '-e',
    `
  import('@nats-io/transport-node').then(async ({ connect }) => {
    const nc = await connect({ servers: '${server.url}' });
    let i = 0;
    setInterval(() => {
      for (let k = 0; k < ${BG_PER_10MS}; k++)
        nc.publish('ft.health.b.bg', JSON.stringify({ specversion: '1.0', id: 'bg-' + i++,
          source: 'bench', type: 'bench.noise', severity: 'info', node: 'b' }));
    }, 10);
  });`,
  ],
  { cwd: REPO, stdio: 'ignore' },
);
await sleep(1000);
const lat: number[] = [];
const ends: number[] = []; // begin -> end, to space the reference rounds alike
for (let i = 0; i < ROUNDS; i++) {
  const b = new Promise<void>((r) => {
    begun = r;
  });
  const e = new Promise<void>((r) => {
    ended = r;
  });
  const t0 = performance.now();
  nc.publish(
    'ft.health.b.mon',
    JSON.stringify({
      specversion: '1.0',
      id: `f-${i}`,
      source: 'bench',
      type: 'bench.fire',
      severity: 'fatal',
      node: 'b',
    }),
  );
  await b;
  lat.push(performance.now() - t0);
  const te = performance.now();
  await e;
  ends.push(performance.now() - te);
}
// Reference, same load, same run: a bare nats.js process subscribed to the same health
// subjects (so it receives the background too) that answers a marked event with one
// publish: the two hops through the server and a busy subscriber, and nothing else.
// Rounds spaced like the daemon's. (The daemon's policy ignores ft.health.b.echo's events:
// they are not valid CloudEvents, so it rejects them.)
const echo = spawn(
  process.execPath,
  [
    '-e',
    `
  import('@nats-io/transport-node').then(async ({ connect }) => {
    const nc = await connect({ servers: '${server.url}' });
    nc.subscribe('ft.health.b.>', { callback: (_e, m) => {
      if (m.subject === 'ft.health.b.echo') nc.publish('bench.echo.out', m.data);
    } });
    await nc.flush(); console.log('ready');
  });`,
  ],
  { cwd: REPO, stdio: ['ignore', 'pipe', 'ignore'] },
);
await new Promise((r) => echo.stdout?.once('data', r));
let echoed: (() => void) | undefined;
nc.subscribe('bench.echo.out', { callback: () => echoed?.() });
await nc.flush();
const gap = Math.max(5, median(ends));
const ref: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  const b = new Promise<void>((r) => {
    echoed = r;
  });
  const t0 = performance.now();
  nc.publish('ft.health.b.echo', JSON.stringify({ id: `e-${i}`, type: 'bench.fire' }));
  await b;
  ref.push(performance.now() - t0);
  await sleep(gap);
}
echo.kill();
bgProc.kill();
console.log(
  `decision latency (publish -> begin), ${ROUNDS} events, background ${BG_PER_10MS * 100}/s:`,
);
console.log(
  `  daemon         p50 ${pct(lat, 50).toFixed(2)} ms   p99 ${pct(lat, 99).toFixed(2)} ms   (goal p99 < 2 ms: ${pct(lat, 99) < 2 ? 'met' : 'NOT met'})`,
);
console.log(
  `  bare echo      p50 ${pct(ref, 50).toFixed(2)} ms   p99 ${pct(ref, 99).toFixed(2)} ms   (the same hops and background, no work)`,
);
console.log(
  `  daemon / echo  p50 ${(pct(lat, 50) / pct(ref, 50)).toFixed(2)}   p99 ${(pct(lat, 99) / pct(ref, 99)).toFixed(2)}`,
);

// ---- flood: daemon vs a bare subscriber in its own process
await sleep(500);
const received = async () =>
  (
    (await client.request('b', 'status', {})) as unknown as {
      bus: { counters: { health: { received: number } } };
    }
  ).bus.counters.health.received;
const bare = spawn(
  process.execPath,
  [
    '-e',
    `
  import('@nats-io/transport-node').then(async ({ connect }) => {
    const nc = await connect({ servers: '${server.url}' });
    let n = 0, t0 = 0;
    nc.subscribe('ft.health.b.>', { callback: () => { if (!n++) t0 = performance.now(); if (n === ${FLOOD}) { console.log(JSON.stringify({ ms: performance.now() - t0 })); process.exit(0); } } });
    await nc.flush(); console.log('ready');
  });`,
  ],
  { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] },
);
let bareOut = '';
bare.stdout.on('data', (d) => {
  bareOut += d;
});
while (!bareOut.includes('ready')) await sleep(20);
const before = await received();
const rssBefore = rss(daemon.pid as number);
const t0 = performance.now();
for (let i = 0; i < FLOOD; i++) {
  bg.publish('ft.health.b.flood', info(i));
  if (i % 5000 === 0) await bg.flush();
}
await bg.flush();
let daemonMs = 0;
for (;;) {
  if ((await received()) - before >= FLOOD) {
    daemonMs = performance.now() - t0;
    break;
  }
  if (performance.now() - t0 > 120_000) break;
  await sleep(20);
}
while (!bareOut.includes('ms')) await sleep(20);
const bareMs = (
  JSON.parse(bareOut.split('\n').find((l) => l.includes('ms')) as string) as { ms: number }
).ms;
const rssAfter = rss(daemon.pid as number);
const dRate = FLOOD / (daemonMs / 1000);
const bRate = FLOOD / (bareMs / 1000);
console.log(`health-event rate, ${FLOOD} events as fast as the publisher can:`);
console.log(
  `  daemon ${Math.round(dRate)}/s   bare subscriber ${Math.round(bRate)}/s   ratio ${(dRate / bRate).toFixed(2)} (goal >= 0.70: ${dRate / bRate >= 0.7 ? 'met' : 'NOT met'})`,
);
console.log(`  daemon RSS ${rssBefore.toFixed(0)} MiB before, ${rssAfter.toFixed(0)} MiB after`);
console.log(
  '  (the daemon rate includes its status polling; both measured on the same server, same run)',
);
daemon.kill('SIGTERM');
process.kill(target, 'SIGKILL');
await nc.close();
await bg.close();
await client.close();
await sleep(500);
await server.stop();
process.exit(0);
