/** The koffi structs of src/engine/libckpt.ts against the C compiler's layout (native/tools/ckpt-abi.c). */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import test from 'ava';
import koffi from 'koffi';
import {
  CheckpointOpts,
  CheckpointResult,
  Progress,
  RestartOpts,
  RestartResult,
  version,
} from '../../src/engine/libckpt.js';
import { REPO } from './harness.js';

const layout = JSON.parse(
  execFileSync(join(REPO, 'native', 'build', 'ckpt-abi')).toString(),
) as Record<string, { size: number; fields: Record<string, number> }>;

const mine: Record<string, unknown> = {
  ckpt_progress: Progress,
  ckpt_checkpoint_opts: CheckpointOpts,
  ckpt_result: CheckpointResult,
  ckpt_restart_opts: RestartOpts,
  ckpt_restart_result: RestartResult,
};

for (const [name, type] of Object.entries(mine)) {
  test(`${name}: same size and field offsets as in C`, (t) => {
    const c = layout[name];
    t.truthy(c, `ckpt-abi knows ${name}`);
    if (!c) return;
    t.is(koffi.sizeof(type as koffi.IKoffiCType), c.size, 'size');
    for (const [field, offset] of Object.entries(c.fields)) {
      t.is(koffi.offsetof(type as koffi.IKoffiCType, field), offset, field);
    }
  });
}

test('the library answers its version', (t) => {
  t.regex(version(), /^\d+\.\d+\.\d+$/);
});
