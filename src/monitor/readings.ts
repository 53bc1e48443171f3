/**
 * Reading node-health sources from sysfs/procfs under a configurable root (tests
 * build their own tree): EDAC memory-controller error counters, thermal zones with
 * their trip points, and PSI pressure. Missing sources are reported as absent, not
 * as errors (a VM has no EDAC); malformed files raise MonitorReadError.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MonitorReadError } from './errors.js';

export interface EdacController {
  name: string; // mc0
  ce: number; // corrected errors since boot
  ue: number; // uncorrected errors since boot
}

export interface ThermalTrip {
  index: number;
  type: string; // critical, hot, passive, active
  milliC: number;
}

export interface ThermalZone {
  name: string; // thermal_zone0
  type?: string; // x86_pkg_temp, acpitz ...
  milliC: number;
  trips: ThermalTrip[];
}

export interface PsiLine {
  avg10: number;
  avg60: number;
  avg300: number;
  total: number; // microseconds
}

export type PsiResource = 'cpu' | 'memory' | 'io';
export const PSI_RESOURCES: readonly PsiResource[] = ['cpu', 'memory', 'io'];

export interface PsiReading {
  some: PsiLine;
  full?: PsiLine;
}

/** One snapshot of every source. */
export interface Sample {
  timeMs: number;
  edac: EdacController[];
  thermal: ThermalZone[];
  psi: Partial<Record<PsiResource, PsiReading>>;
}

export const EDAC_DIR = 'sys/devices/system/edac/mc';
export const THERMAL_DIR = 'sys/class/thermal';
export const PSI_DIR = 'proc/pressure';

async function listOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new MonitorReadError(`cannot list ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

async function readTextOrUndefined(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // sysfs: a vanished zone (ENOENT), or a sensor that cannot be read right now
    if (
      code === 'ENOENT' ||
      code === 'ENODATA' ||
      code === 'EAGAIN' ||
      code === 'EIO' ||
      code === 'EOPNOTSUPP'
    ) {
      return undefined;
    }
    throw new MonitorReadError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function parseCount(text: string, path: string): number {
  if (!/^-?\d+$/.test(text)) {
    throw new MonitorReadError(`${path}: expected an integer, got '${text.slice(0, 40)}'`);
  }
  return Number(text);
}

export async function readEdac(root: string): Promise<EdacController[]> {
  const dir = join(root, EDAC_DIR);
  const names = (await listOrEmpty(dir)).filter((n) => /^mc\d+$/.test(n)).sort(byNumber);
  const out: EdacController[] = [];
  for (const name of names) {
    const ceText = await readTextOrUndefined(join(dir, name, 'ce_count'));
    const ueText = await readTextOrUndefined(join(dir, name, 'ue_count'));
    if (ceText === undefined || ueText === undefined) continue;
    out.push({
      name,
      ce: parseCount(ceText, join(dir, name, 'ce_count')),
      ue: parseCount(ueText, join(dir, name, 'ue_count')),
    });
  }
  return out;
}

export async function readThermal(root: string): Promise<ThermalZone[]> {
  const dir = join(root, THERMAL_DIR);
  const names = (await listOrEmpty(dir)).filter((n) => /^thermal_zone\d+$/.test(n)).sort(byNumber);
  const zones: ThermalZone[] = [];
  for (const name of names) {
    const zoneDir = join(dir, name);
    const tempText = await readTextOrUndefined(join(zoneDir, 'temp'));
    if (tempText === undefined) continue;
    const zone: ThermalZone = {
      name,
      milliC: parseCount(tempText, join(zoneDir, 'temp')),
      trips: [],
    };
    const type = await readTextOrUndefined(join(zoneDir, 'type'));
    if (type) zone.type = type;
    const entries = await listOrEmpty(zoneDir);
    const indexes = entries
      .map((e) => /^trip_point_(\d+)_temp$/.exec(e)?.[1])
      .filter((x): x is string => x !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    for (const index of indexes) {
      const t = await readTextOrUndefined(join(zoneDir, `trip_point_${index}_temp`));
      const kind = await readTextOrUndefined(join(zoneDir, `trip_point_${index}_type`));
      if (t === undefined || kind === undefined) continue;
      zone.trips.push({
        index,
        type: kind,
        milliC: parseCount(t, join(zoneDir, `trip_point_${index}_temp`)),
      });
    }
    zones.push(zone);
  }
  return zones;
}

/** Parse one /proc/pressure file: "some avg10=0.00 avg60=0.00 avg300=0.00 total=0". */
export function parsePsi(text: string, path: string): PsiReading {
  const lines: Partial<Record<'some' | 'full', PsiLine>> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const m =
      /^(some|full)\s+avg10=([\d.]+)\s+avg60=([\d.]+)\s+avg300=([\d.]+)\s+total=(\d+)$/.exec(line);
    if (!m) throw new MonitorReadError(`${path}: unexpected line '${line.slice(0, 80)}'`);
    lines[m[1] as 'some' | 'full'] = {
      avg10: Number(m[2]),
      avg60: Number(m[3]),
      avg300: Number(m[4]),
      total: Number(m[5]),
    };
  }
  if (!lines.some) throw new MonitorReadError(`${path}: no 'some' line`);
  return lines.full ? { some: lines.some, full: lines.full } : { some: lines.some };
}

export async function readPsi(root: string): Promise<Partial<Record<PsiResource, PsiReading>>> {
  const out: Partial<Record<PsiResource, PsiReading>> = {};
  for (const res of PSI_RESOURCES) {
    const path = join(root, PSI_DIR, res);
    const text = await readTextOrUndefined(path);
    if (text === undefined) continue;
    out[res] = parsePsi(text, path);
  }
  return out;
}

export async function readSample(root: string, timeMs = Date.now()): Promise<Sample> {
  const [edac, thermal, psi] = await Promise.all([
    readEdac(root),
    readThermal(root),
    readPsi(root),
  ]);
  return { timeMs, edac, thermal, psi };
}

function byNumber(a: string, b: string): number {
  return Number(/\d+$/.exec(a)?.[0]) - Number(/\d+$/.exec(b)?.[0]);
}
