/** `ckpt policy check` prints one line per file, as its help and docs/cli.md say. */
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { REPO, runCli } from './run-cli.js';

test('policy check: one ok line per file with its policy count', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-policy-check-'));
  const a = join(dir, 'a.yaml');
  copyFileSync(join(REPO, 'config', 'policies', 'default.yaml'), a);
  const b = join(dir, 'b.yaml');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(b, 'policies:\n  - name: hourly\n    kind: periodic\n    interval: 1h\n');
  const r = await runCli('ckpt', ['policy', 'check', a, b]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `ok: ${a}: 2 policies\nok: ${b}: 1 policy\n`);
  const quiet = await runCli('ckpt', ['policy', 'check', '-q', a]);
  t.is(quiet.stdout, '');
});
