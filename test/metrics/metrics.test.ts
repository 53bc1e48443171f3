/** The metric hooks and the scrape endpoint, over real HTTP. */
import test from 'ava';
import { createMetrics, MetricsServerError, startMetricsServer } from '../../src/metrics/index.js';

async function get(url: string, method = 'GET') {
  const res = await fetch(url, { method });
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    body: await res.text(),
  };
}

test('hooks show up in the exposition text', async (t) => {
  const m = createMetrics();
  m.checkpointDone({ result: 'ok', trigger: 'periodic', bytes: 4096, durationMs: 12, frozenMs: 3 });
  m.checkpointDone({
    result: 'ok',
    trigger: 'periodic',
    bytes: 1000,
    durationMs: 2000,
    frozenMs: 0.4,
  });
  m.checkpointDone({ result: 'error', trigger: 'automatic', bytes: 999, durationMs: 5 });
  m.restartDone({ result: 'ok', trigger: 'resume', durationMs: 250 });
  m.restartDone({ result: 'timeout', trigger: 'command' });
  m.eventReceived({ severity: 'fatal' });
  m.eventReceived({ severity: 'fatal' });
  m.eventRejected('schema');
  m.setQueueDepth(3);
  m.setJobs(2);
  const text = await m.registry.metrics();
  t.regex(text, /^ckpt_checkpoints_total\{result="ok",trigger="periodic"\} 2$/m);
  t.regex(text, /^ckpt_checkpoints_total\{result="error",trigger="automatic"\} 1$/m);
  t.regex(text, /^ckpt_checkpoint_bytes_total\{trigger="periodic"\} 5096$/m);
  t.notRegex(
    text,
    /ckpt_checkpoint_bytes_total\{trigger="automatic"\}/,
    'failed checkpoints write no bytes',
  );
  t.regex(text, /^ckpt_checkpoint_duration_seconds_count\{trigger="periodic"\} 2$/m);
  t.regex(text, /^ckpt_checkpoint_duration_seconds_bucket\{le="0\.05",trigger="periodic"\} 1$/m);
  t.regex(text, /^ckpt_checkpoint_freeze_seconds_bucket\{le="0\.0005",trigger="periodic"\} 1$/m);
  const freezeSum = /^ckpt_checkpoint_freeze_seconds_sum\{trigger="periodic"\} (\S+)$/m.exec(
    text,
  )?.[1];
  t.true(Math.abs(Number(freezeSum) - 0.0034) < 1e-9, `freeze sum ${freezeSum}`);
  t.regex(text, /^ckpt_restarts_total\{result="ok",trigger="resume"\} 1$/m);
  t.regex(text, /^ckpt_restarts_total\{result="timeout",trigger="command"\} 1$/m);
  t.regex(text, /^ckpt_restart_duration_seconds_count\{trigger="resume"\} 1$/m);
  t.regex(text, /^ckpt_events_received_total\{severity="fatal"\} 2$/m);
  t.regex(text, /^ckpt_events_rejected_total\{reason="schema"\} 1$/m);
  t.regex(text, /^ckpt_queue_depth 3$/m);
  t.regex(text, /^ckpt_jobs 2$/m);
});

test('bad numbers do not poison the metrics', async (t) => {
  const m = createMetrics();
  m.checkpointDone({
    result: 'ok',
    trigger: 'command',
    bytes: Number.NaN,
    durationMs: -5,
    frozenMs: Infinity,
  });
  m.setQueueDepth(Number.NaN);
  const text = await m.registry.metrics();
  t.regex(text, /^ckpt_checkpoints_total\{result="ok",trigger="command"\} 1$/m);
  t.notRegex(
    text,
    /ckpt_checkpoint_duration_seconds_count\{trigger="command"\}/,
    'nothing observed',
  );
  t.regex(text, /^ckpt_queue_depth 0$/m);
  t.false(text.includes('NaN'));
});

test('two registries do not collide (no global state)', async (t) => {
  const a = createMetrics();
  const b = createMetrics({ defaultMetrics: true });
  a.setJobs(5);
  t.regex(await a.registry.metrics(), /^ckpt_jobs 5$/m);
  t.regex(await b.registry.metrics(), /^ckpt_jobs 0$/m);
  t.regex(await b.registry.metrics(), /^ckpt_process_cpu_user_seconds_total /m);
});

test('HTTP endpoint: /metrics, /healthz, 404, 405, HEAD', async (t) => {
  const m = createMetrics();
  const srv = await startMetricsServer(m, { port: 0 });
  t.teardown(() => srv.close());
  m.eventRejected('json');
  const metrics = await get(`${srv.url}/metrics`);
  t.is(metrics.status, 200);
  t.regex(metrics.type, /^text\/plain/);
  t.regex(metrics.body, /^ckpt_events_rejected_total\{reason="json"\} 1$/m);
  t.is((await get(`${srv.url}/metrics?x=1`)).status, 200);
  t.is((await get(`${srv.url}/healthz`)).body, 'ok\n');
  t.is((await get(`${srv.url}/nope`)).status, 404);
  t.is((await get(`${srv.url}/metrics`, 'POST')).status, 405);
  const head = await get(`${srv.url}/metrics`, 'HEAD');
  t.is(head.status, 200);
  t.is(head.body, '');
});

test('a port in use is a clear error', async (t) => {
  const m = createMetrics();
  const first = await startMetricsServer(m, { port: 0 });
  t.teardown(() => first.close());
  const err = await t.throwsAsync(startMetricsServer(m, { port: first.port }), {
    instanceOf: MetricsServerError,
  });
  t.regex(
    err?.message ?? '',
    new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}: EADDRINUSE`),
  );
});
