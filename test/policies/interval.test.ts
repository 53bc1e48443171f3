import test from 'ava';
import { dalyInterval, estimateMtbf, youngInterval } from '../../src/policies/index.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

// Check values from docs/anchors.md: delta = 5 min.
test('Daly: 5 min cost, MTBF 24 h -> 117 min', (t) => {
  t.is(Math.round(dalyInterval(5 * MIN, 24 * HOUR) / MIN), 117);
});

test('Daly: 5 min cost, MTBF 6 h -> 57 min', (t) => {
  t.is(Math.round(dalyInterval(5 * MIN, 6 * HOUR) / MIN), 57);
});

test('Daly: 5 min cost, MTBF 15 min -> 9.1 min', (t) => {
  t.is(Math.round((dalyInterval(5 * MIN, 15 * MIN) / MIN) * 10) / 10, 9.1);
});

test('Daly: cost at or above 2M gives T = M', (t) => {
  t.is(dalyInterval(10, 5), 5);
  t.is(dalyInterval(30, 5), 5);
  t.true(dalyInterval(9.99, 5) !== 5);
});

test('Young: sqrt(2 delta M), 5 min and 24 h -> 120 min', (t) => {
  t.is(youngInterval(5 * MIN, 24 * HOUR), 120 * MIN);
});

test('Daly is the Young interval corrected: close to Young minus delta for small delta/M', (t) => {
  const young = youngInterval(1, 1e6);
  const daly = dalyInterval(1, 1e6);
  t.true(Math.abs(daly - (young - 1)) < young * 0.001);
});

test('bad arguments are refused with what was expected', (t) => {
  t.throws(() => dalyInterval(-1, 10), { instanceOf: RangeError, message: /cost.*>= 0, got -1/ });
  t.throws(() => youngInterval(1, 0), { instanceOf: RangeError, message: /MTBF.*> 0, got 0/ });
  t.throws(() => dalyInterval(Number.NaN, 10), { instanceOf: RangeError });
});

test('MTBF estimate: prior alone, then approaches observed/failures', (t) => {
  t.is(estimateMtbf(24 * HOUR, 0, 0), 24 * HOUR);
  t.is(estimateMtbf(18 * HOUR, 2, 0), 6 * HOUR);
  // 100 failures over 100 h with a 24 h prior: (100 h + 24 h) / 101 ~ 1.23 h
  t.is(Math.round(estimateMtbf(24 * HOUR, 100, 100 * HOUR) / MIN), Math.round((124 * 60) / 101));
});
