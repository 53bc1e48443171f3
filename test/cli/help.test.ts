/**
 * Every verb's --help and the BLCR usages: printed on stdout with exit 0, start
 * with a usage line naming the command, fit in 100 columns, contain no
 * placeholders, and mention every option the command accepts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { CHECKPOINT_OPTION_SPECS } from '../../src/cli/blcr/checkpoint-options.js';
import { RESTART_OPTION_SPECS } from '../../src/cli/blcr/restart-options.js';
import { VERBS } from '../../src/cli/registry.js';
import { REPO, runCli } from './run-cli.js';

function readsSensibly(t: import('ava').ExecutionContext, text: string, command: string) {
  t.regex(text, new RegExp(`^Usage: ${command}\\b`), `${command}: starts with a usage line`);
  t.false(/undefined|NaN|\[object /.test(text), `${command}: no placeholders leaked`);
  for (const line of text.split('\n'))
    t.true(line.length <= 100, `${command}: line too long: ${line}`);
  t.true(text.split('\n').length >= 5, `${command}: more than a usage line`);
}

for (const entry of VERBS) {
  test(`ckpt ${entry.name} --help`, async (t) => {
    const r = await runCli('ckpt', [entry.name, '--help']);
    t.is(r.code, 0, r.stderr);
    t.is(r.stderr, '');
    readsSensibly(t, r.stdout, `ckpt ${entry.name}`);
    const viaHelp = await runCli('ckpt', ['help', entry.name]);
    t.is(viaHelp.stdout, r.stdout, '`ckpt help VERB` is the same text');
  });
}

test('ckpt --help lists every verb; no arguments is a usage error', async (t) => {
  const r = await runCli('ckpt', ['--help']);
  t.is(r.code, 0);
  for (const entry of VERBS) t.regex(r.stdout, new RegExp(`^  ${entry.name}\\s+\\S`, 'm'));
  t.regex(r.stdout, /cr_checkpoint/);
  const bare = await runCli('ckpt', []);
  t.is(bare.code, 2);
  t.regex(bare.stderr, /^Usage: ckpt/);
  const version = await runCli('ckpt', ['--version']);
  t.regex(version.stdout, /^ckpt \d+\.\d+\.\d+\n$/);
});

const BLCR: [string, readonly { long: string; short?: string }[]][] = [
  ['cr_checkpoint', CHECKPOINT_OPTION_SPECS],
  ['cr_restart', RESTART_OPTION_SPECS],
  ['cr_run', [{ long: 'help' }, { long: 'version' }]],
];

for (const [program, specs] of BLCR) {
  test(`${program} --help names every option it accepts`, async (t) => {
    const r = await runCli(program, ['--help']);
    t.is(r.code, 0, r.stderr);
    readsSensibly(t, r.stdout, program);
    for (const spec of specs) {
      t.true(r.stdout.includes(`--${spec.long}`), `${program} --help lacks --${spec.long}`);
      if (spec.short)
        t.true(r.stdout.includes(`-${spec.short}`), `${program} --help lacks -${spec.short}`);
    }
    const short = await runCli(program, ['-?']);
    t.is(short.stdout, r.stdout);
    const version = await runCli(program, ['--version']);
    t.regex(
      version.stdout,
      new RegExp(`^${program} \\(ckpt \\d+\\.\\d+\\.\\d+, BLCR-compatible\\)\\n$`),
    );
  });
}

test('docs/blcr-compatibility.md has a row for every BLCR option the commands accept', (t) => {
  const doc = readFileSync(join(REPO, 'docs', 'blcr-compatibility.md'), 'utf8');
  for (const [program, specs] of BLCR) {
    const start = doc.indexOf(`## ${program}\n`);
    t.true(start >= 0, `no section for ${program}`);
    const end = doc.indexOf('\n## ', start + 3);
    const section = doc.slice(start, end < 0 ? undefined : end);
    for (const spec of specs) {
      t.true(
        section.includes(`--${spec.long}`),
        `${program}: --${spec.long} missing from the table`,
      );
    }
  }
});
