/** A fake sysfs/procfs tree for the monitor: the same paths and file formats. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeTree {
  root: string;
  setEdac(mc: number, ce: number, ue: number): void;
  setZone(
    zone: number,
    milliC: number,
    trips?: { type: string; milliC: number }[],
    type?: string,
  ): void;
  setPsi(resource: 'cpu' | 'memory' | 'io', someAvg10: number, full?: boolean): void;
}

export function createFakeTree(): FakeTree {
  const root = mkdtempSync(join(tmpdir(), 'ckpt-monitor-tree-'));
  const edac = join(root, 'sys/devices/system/edac/mc');
  const thermal = join(root, 'sys/class/thermal');
  const pressure = join(root, 'proc/pressure');
  return {
    root,
    setEdac(mc, ce, ue) {
      const dir = join(edac, `mc${mc}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'ce_count'), `${ce}\n`);
      writeFileSync(join(dir, 'ue_count'), `${ue}\n`);
    },
    setZone(zone, milliC, trips, type = 'x86_pkg_temp') {
      const dir = join(thermal, `thermal_zone${zone}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'temp'), `${milliC}\n`);
      writeFileSync(join(dir, 'type'), `${type}\n`);
      trips?.forEach((trip, i) => {
        writeFileSync(join(dir, `trip_point_${i}_temp`), `${trip.milliC}\n`);
        writeFileSync(join(dir, `trip_point_${i}_type`), `${trip.type}\n`);
      });
    },
    setPsi(resource, someAvg10, full = resource !== 'cpu') {
      mkdirSync(pressure, { recursive: true });
      const some = `some avg10=${someAvg10.toFixed(2)} avg60=1.00 avg300=0.50 total=123456`;
      const fullLine = 'full avg10=0.00 avg60=0.00 avg300=0.00 total=0';
      writeFileSync(join(pressure, resource), `${some}\n${full ? `${fullLine}\n` : ''}`);
    },
  };
}
