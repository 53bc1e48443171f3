/**
 * The monitor's decisions, pure: (previous state, new sample, thresholds) ->
 * (next state, findings). No I/O and no clock: the sample carries its time.
 *
 * - EDAC: an increase of ue_count is a failure (fatal, every time); corrected
 *   errors counted over a sliding window at or above `ceCount` are a warning
 *   (raised once, cleared when the window drops below it).
 * - Thermal: a zone within `criticalMarginC` of its lowest critical trip is fatal;
 *   at or above a `hot` trip a warning. Cleared `hysteresisC` below.
 * - PSI: `some avg10` at or above the resource's threshold is a warning, cleared
 *   `psiHysteresis` points below.
 * Latched alerts raise one finding on the rising edge and an info `.cleared`
 * finding on the falling edge, so a slow sensor does not flood the bus.
 */
import type { Severity } from '../shared/types.js';
import { MonitorConfigError } from './errors.js';
import type { PsiResource, Sample, ThermalZone } from './readings.js';
import { PSI_RESOURCES } from './readings.js';

export interface Thresholds {
  ceCount: number; // corrected errors within the window that raise a warning
  ceWindowSec: number;
  criticalMarginC: number; // fatal when temp >= critical trip - margin
  hysteresisC: number;
  psi: Record<PsiResource, number>; // some avg10, percent; 0 disables
  psiHysteresis: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  ceCount: 10,
  ceWindowSec: 3600,
  criticalMarginC: 5,
  hysteresisC: 2,
  psi: { cpu: 90, memory: 40, io: 60 },
  psiHysteresis: 5,
};

export function validateThresholds(t: Thresholds): Thresholds {
  const check = (ok: boolean, what: string, value: unknown, expected: string) => {
    if (!ok) throw new MonitorConfigError(`${what} must be ${expected}, got ${String(value)}`);
  };
  check(Number.isInteger(t.ceCount) && t.ceCount >= 1, 'ceCount', t.ceCount, 'an integer >= 1');
  check(t.ceWindowSec > 0, 'ceWindowSec', t.ceWindowSec, '> 0');
  check(t.criticalMarginC >= 0, 'criticalMarginC', t.criticalMarginC, '>= 0');
  check(t.hysteresisC >= 0, 'hysteresisC', t.hysteresisC, '>= 0');
  for (const r of PSI_RESOURCES) {
    check(t.psi[r] >= 0 && t.psi[r] <= 100, `psi.${r}`, t.psi[r], 'a percentage from 0 to 100');
  }
  check(t.psiHysteresis >= 0, 'psiHysteresis', t.psiHysteresis, '>= 0');
  return t;
}

export interface Finding {
  key: string; // what it is about, e.g. edac.mc0.ce or thermal.thermal_zone0.critical
  type: string; // CloudEvents type
  severity: Severity;
  message: string;
  data: Record<string, unknown>;
}

export interface MonitorState {
  edac: Record<string, { ue: number; ce: Array<[timeMs: number, count: number]> }>;
  active: Record<string, { type: string; since: number }>;
}

export function initialState(): MonitorState {
  return { edac: {}, active: {} };
}

export const EVENT_TYPES = {
  ue: 'node.memory.uncorrected',
  ceRate: 'node.memory.corrected_rate',
  thermalCritical: 'node.thermal.critical',
  thermalHot: 'node.thermal.hot',
  pressure: (r: PsiResource) => `node.pressure.${r}`,
} as const;

/** Raise or clear a latched alert; returns the findings for the edge, if any. */
function latch(
  state: MonitorState,
  timeMs: number,
  key: string,
  raise: boolean,
  clear: boolean,
  onRaise: () => Finding,
  data: Record<string, unknown>,
): Finding[] {
  const active = state.active[key];
  if (!active && raise) {
    const f = onRaise();
    state.active[key] = { type: f.type, since: timeMs };
    return [f];
  }
  if (active && clear) {
    delete state.active[key];
    return [
      {
        key,
        type: `${active.type}.cleared`,
        severity: 'info',
        message: `${key} back to normal`,
        data: { ...data, activeForMs: timeMs - active.since },
      },
    ];
  }
  return [];
}

function evaluateEdac(prev: MonitorState, next: MonitorState, s: Sample, t: Thresholds): Finding[] {
  const out: Finding[] = [];
  const windowMs = t.ceWindowSec * 1000;
  for (const mc of s.edac) {
    const before = prev.edac[mc.name];
    let history = before ? before.ce.slice() : [];
    if (before && mc.ue > before.ue) {
      out.push({
        key: `edac.${mc.name}.ue`,
        type: EVENT_TYPES.ue,
        severity: 'fatal',
        message: `${mc.name}: ${mc.ue - before.ue} uncorrected memory error(s)`,
        data: { controller: mc.name, ueCount: mc.ue, new: mc.ue - before.ue },
      });
    }
    const lastCe = history.at(-1)?.[1];
    if (lastCe !== undefined && mc.ce < lastCe) history = []; // counters were reset
    history.push([s.timeMs, mc.ce]);
    // keep the newest sample at or before the window start as the baseline
    while (history.length > 1 && (history[1] as [number, number])[0] <= s.timeMs - windowMs) {
      history.shift();
    }
    next.edac[mc.name] = { ue: mc.ue, ce: history };
    const inWindow = mc.ce - (history[0] as [number, number])[1];
    const key = `edac.${mc.name}.ce`;
    const data = { controller: mc.name, ceCount: mc.ce, inWindow, windowSec: t.ceWindowSec };
    out.push(
      ...latch(
        next,
        s.timeMs,
        key,
        inWindow >= t.ceCount,
        inWindow < t.ceCount,
        () => ({
          key,
          type: EVENT_TYPES.ceRate,
          severity: 'warning',
          message: `${mc.name}: ${inWindow} corrected memory errors in ${t.ceWindowSec} s (threshold ${t.ceCount})`,
          data: { ...data, threshold: t.ceCount },
        }),
        data,
      ),
    );
  }
  return out;
}

/** The lowest valid trip of a type (sysfs shows disabled trips as 0 or negative). */
function lowestTrip(zone: ThermalZone, type: string): number | undefined {
  const temps = zone.trips.filter((p) => p.type === type && p.milliC > 0).map((p) => p.milliC);
  return temps.length ? Math.min(...temps) : undefined;
}

function evaluateThermal(next: MonitorState, s: Sample, t: Thresholds): Finding[] {
  const out: Finding[] = [];
  const hyst = t.hysteresisC * 1000;
  for (const zone of s.thermal) {
    const base = { zone: zone.name, zoneType: zone.type, tempC: zone.milliC / 1000 };
    const critical = lowestTrip(zone, 'critical');
    if (critical !== undefined) {
      const limit = critical - t.criticalMarginC * 1000;
      const key = `thermal.${zone.name}.critical`;
      const data = { ...base, criticalC: critical / 1000, marginC: t.criticalMarginC };
      out.push(
        ...latch(
          next,
          s.timeMs,
          key,
          zone.milliC >= limit,
          zone.milliC < limit - hyst,
          () => ({
            key,
            type: EVENT_TYPES.thermalCritical,
            severity: 'fatal',
            message: `${zone.name}: ${zone.milliC / 1000} C, critical trip at ${critical / 1000} C`,
            data,
          }),
          data,
        ),
      );
    }
    const hot = lowestTrip(zone, 'hot');
    if (hot !== undefined) {
      const key = `thermal.${zone.name}.hot`;
      const data = { ...base, hotC: hot / 1000 };
      out.push(
        ...latch(
          next,
          s.timeMs,
          key,
          zone.milliC >= hot,
          zone.milliC < hot - hyst,
          () => ({
            key,
            type: EVENT_TYPES.thermalHot,
            severity: 'warning',
            message: `${zone.name}: ${zone.milliC / 1000} C, at or above the hot trip ${hot / 1000} C`,
            data,
          }),
          data,
        ),
      );
    }
  }
  return out;
}

function evaluatePsi(next: MonitorState, s: Sample, t: Thresholds): Finding[] {
  const out: Finding[] = [];
  for (const res of PSI_RESOURCES) {
    const reading = s.psi[res];
    const limit = t.psi[res];
    if (!reading || limit <= 0) continue;
    const key = `psi.${res}`;
    const value = reading.some.avg10;
    const data = {
      resource: res,
      someAvg10: value,
      someAvg60: reading.some.avg60,
      threshold: limit,
    };
    out.push(
      ...latch(
        next,
        s.timeMs,
        key,
        value >= limit,
        value < limit - t.psiHysteresis,
        () => ({
          key,
          type: EVENT_TYPES.pressure(res),
          severity: 'warning',
          message: `${res} pressure some avg10 ${value}% >= ${limit}%`,
          data,
        }),
        data,
      ),
    );
  }
  return out;
}

/** Decide what a new sample means given what came before. Does not mutate `prev`. */
export function evaluate(
  prev: MonitorState,
  sample: Sample,
  thresholds: Thresholds,
): { state: MonitorState; findings: Finding[] } {
  const next: MonitorState = { edac: { ...prev.edac }, active: { ...prev.active } };
  const findings = [
    ...evaluateEdac(prev, next, sample, thresholds),
    ...evaluateThermal(next, sample, thresholds),
    ...evaluatePsi(next, sample, thresholds),
  ];
  return { state: next, findings };
}
