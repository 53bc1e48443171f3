/** Reading EDAC, thermal and PSI from a tree in the kernel's file formats. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { MonitorReadError } from '../../src/monitor/errors.js';
import { parsePsi, readSample } from '../../src/monitor/readings.js';
import { createFakeTree } from './sysfs-tree.js';

test('reads every source of a populated tree', async (t) => {
  const tree = createFakeTree();
  tree.setEdac(0, 3, 0);
  tree.setEdac(1, 7, 1);
  tree.setZone(0, 45_000, [
    { type: 'passive', milliC: 90_000 },
    { type: 'critical', milliC: 100_000 },
  ]);
  tree.setPsi('cpu', 12.5);
  tree.setPsi('memory', 3);
  tree.setPsi('io', 0);
  const s = await readSample(tree.root, 1234);
  t.is(s.timeMs, 1234);
  t.deepEqual(s.edac, [
    { name: 'mc0', ce: 3, ue: 0 },
    { name: 'mc1', ce: 7, ue: 1 },
  ]);
  t.deepEqual(s.thermal, [
    {
      name: 'thermal_zone0',
      type: 'x86_pkg_temp',
      milliC: 45_000,
      trips: [
        { index: 0, type: 'passive', milliC: 90_000 },
        { index: 1, type: 'critical', milliC: 100_000 },
      ],
    },
  ]);
  t.is(s.psi.cpu?.some.avg10, 12.5);
  t.is(s.psi.cpu?.full, undefined);
  t.is(s.psi.memory?.full?.avg10, 0);
});

test('an empty tree (a VM without EDAC or sensors) is not an error', async (t) => {
  const tree = createFakeTree();
  const s = await readSample(tree.root);
  t.deepEqual([s.edac, s.thermal, s.psi], [[], [], {}]);
});

test('zones and controllers sort numerically (mc10 after mc2)', async (t) => {
  const tree = createFakeTree();
  for (const n of [10, 2, 1]) tree.setEdac(n, n, 0);
  const s = await readSample(tree.root);
  t.deepEqual(
    s.edac.map((m) => m.name),
    ['mc1', 'mc2', 'mc10'],
  );
});

test('malformed files are refused with the path and what was expected', async (t) => {
  const tree = createFakeTree();
  tree.setEdac(0, 1, 0);
  writeFileSync(join(tree.root, 'sys/devices/system/edac/mc/mc0/ce_count'), 'lots\n');
  const err = await t.throwsAsync(readSample(tree.root), { instanceOf: MonitorReadError });
  t.regex(err?.message ?? '', /mc0\/ce_count: expected an integer, got 'lots'/);

  t.throws(() => parsePsi('some avg10=x\n', '/proc/pressure/cpu'), {
    instanceOf: MonitorReadError,
    message: /\/proc\/pressure\/cpu: unexpected line 'some avg10=x'/,
  });
  t.throws(() => parsePsi('full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n', 'p'), {
    message: /no 'some' line/,
  });
});

test('reads this machine without failing (whatever it has)', async (t) => {
  const s = await readSample('/');
  t.true(Array.isArray(s.edac) && Array.isArray(s.thermal));
  for (const z of s.thermal) t.true(Number.isFinite(z.milliC));
  t.log(
    `this machine: ${s.edac.length} EDAC, ${s.thermal.length} zones, PSI ${Object.keys(s.psi).join('/') || 'none'}`,
  );
});

test('a zone that vanished between listing and reading is skipped', async (t) => {
  const tree = createFakeTree();
  mkdirSync(join(tree.root, 'sys/class/thermal/thermal_zone3'), { recursive: true }); // no temp file
  tree.setZone(1, 30_000);
  const s = await readSample(tree.root);
  t.deepEqual(
    s.thermal.map((z) => z.name),
    ['thermal_zone1'],
  );
});
