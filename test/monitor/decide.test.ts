/** The monitor's pure decisions: thresholds, edges, hysteresis, resets. */
import test from 'ava';
import {
  DEFAULT_THRESHOLDS,
  evaluate,
  initialState,
  type MonitorState,
  type Thresholds,
  validateThresholds,
} from '../../src/monitor/decide.js';
import type { Sample } from '../../src/monitor/readings.js';

const T: Thresholds = { ...DEFAULT_THRESHOLDS, ceCount: 5, ceWindowSec: 60 };

function sample(timeMs: number, parts: Partial<Sample> = {}): Sample {
  return { timeMs, edac: [], thermal: [], psi: {}, ...parts };
}

function run(samples: Sample[], t = T): { types: string[][]; state: MonitorState } {
  let state = initialState();
  const types: string[][] = [];
  for (const s of samples) {
    const r = evaluate(state, s, t);
    state = r.state;
    types.push(r.findings.map((f) => `${f.severity}:${f.type}`));
  }
  return { types, state };
}

const mc = (ce: number, ue: number) => ({ edac: [{ name: 'mc0', ce, ue }] });

test('EDAC: baseline first, then every new uncorrected error is fatal', (t) => {
  const { types } = run([
    sample(0, mc(0, 3)),
    sample(1000, mc(0, 3)),
    sample(2000, mc(0, 4)),
    sample(3000, mc(0, 6)),
  ]);
  t.deepEqual(types, [
    [],
    [],
    ['fatal:node.memory.uncorrected'],
    ['fatal:node.memory.uncorrected'],
  ]);
});

test('EDAC: a rising corrected-error count within the window warns once, then clears', (t) => {
  const { types } = run([
    sample(0, mc(100, 0)), // baseline: old errors do not count
    sample(10_000, mc(103, 0)),
    sample(20_000, mc(105, 0)), // 5 within 60 s -> warning
    sample(30_000, mc(107, 0)), // still above: no repeat
    sample(85_000, mc(107, 0)), // window now starts after the first errors: 4 < 5 -> cleared
  ]);
  t.deepEqual(types, [
    [],
    [],
    ['warning:node.memory.corrected_rate'],
    [],
    ['info:node.memory.corrected_rate.cleared'],
  ]);
});

test('EDAC: a slow trickle never reaches the threshold; a counter reset is not an error', (t) => {
  const slow = run(Array.from({ length: 10 }, (_, i) => sample(i * 30_000, mc(i, 0))));
  t.deepEqual(slow.types.flat(), [], '1 error per 30 s with 5 per 60 s allowed');
  const reset = run([sample(0, mc(50, 2)), sample(1000, mc(0, 2)), sample(2000, mc(1, 2))]);
  t.deepEqual(reset.types.flat(), []);
});

const zone = (milliC: number) => ({
  thermal: [
    {
      name: 'thermal_zone0',
      type: 'x86_pkg_temp',
      milliC,
      trips: [
        { index: 0, type: 'passive', milliC: 80_000 },
        { index: 1, type: 'hot', milliC: 90_000 },
        { index: 2, type: 'critical', milliC: 105_000 },
        { index: 3, type: 'critical', milliC: 0 }, // disabled trip: ignored
      ],
    },
  ],
});

test('thermal: near the critical trip is fatal, at the hot trip a warning, with hysteresis', (t) => {
  const { types } = run([
    sample(0, zone(50_000)),
    sample(1, zone(91_000)), // hot
    sample(2, zone(100_000)), // within 5 C of 105: fatal
    sample(3, zone(99_000)), // below the limit but within hysteresis: nothing
    sample(4, zone(97_000)), // 3 C below the limit: critical cleared
    sample(5, zone(89_000)), // 1 C below hot: within hysteresis
    sample(6, zone(87_000)), // hot cleared
  ]);
  t.deepEqual(types, [
    [],
    ['warning:node.thermal.hot'],
    ['fatal:node.thermal.critical'],
    [],
    ['info:node.thermal.critical.cleared'],
    [],
    ['info:node.thermal.hot.cleared'],
  ]);
});

test('thermal: a zone without trips or with only disabled ones never alerts', (t) => {
  const s = sample(0, { thermal: [{ name: 'thermal_zone1', milliC: 150_000, trips: [] }] });
  t.deepEqual(run([s, s]).types.flat(), []);
});

const psi = (cpu: number, memory: number) => ({
  psi: {
    cpu: { some: { avg10: cpu, avg60: 0, avg300: 0, total: 0 } },
    memory: { some: { avg10: memory, avg60: 0, avg300: 0, total: 0 } },
  },
});

test('PSI: over threshold is a warning per resource, cleared below threshold - hysteresis', (t) => {
  const th = { ...T, psi: { cpu: 90, memory: 40, io: 60 } };
  const { types } = run(
    [
      sample(0, psi(10, 10)),
      sample(1, psi(95, 41)),
      sample(2, psi(88, 37)),
      sample(3, psi(84, 20)),
    ],
    th,
  );
  t.deepEqual(types, [
    [],
    ['warning:node.pressure.cpu', 'warning:node.pressure.memory'],
    [],
    ['info:node.pressure.cpu.cleared', 'info:node.pressure.memory.cleared'],
  ]);
  const off = run([sample(0, psi(100, 100))], { ...th, psi: { cpu: 0, memory: 0, io: 0 } });
  t.deepEqual(off.types.flat(), [], 'a threshold of 0 disables');
});

test('findings carry the values behind them', (t) => {
  const r = evaluate(initialState(), sample(0, zone(104_000)), T);
  const fatal = r.findings.find((f) => f.severity === 'fatal');
  t.truthy(fatal);
  t.like(fatal?.data, { zone: 'thermal_zone0', tempC: 104, criticalC: 105 });
  t.regex(fatal?.message ?? '', /104 C, critical trip at 105 C/);
});

test('evaluate does not mutate the previous state', (t) => {
  const s0 = evaluate(initialState(), sample(0, mc(0, 0)), T).state;
  const frozen = JSON.stringify(s0);
  evaluate(s0, sample(1, mc(10, 1)), T);
  t.is(JSON.stringify(s0), frozen);
});

test('bad thresholds are refused with the name and the accepted form', (t) => {
  t.throws(() => validateThresholds({ ...T, ceCount: 0 }), {
    message: /ceCount must be an integer >= 1, got 0/,
  });
  t.throws(() => validateThresholds({ ...T, psi: { cpu: 101, memory: 1, io: 1 } }), {
    message: /psi.cpu must be a percentage/,
  });
  t.throws(() => validateThresholds({ ...T, ceWindowSec: 0 }), { message: /ceWindowSec/ });
});
