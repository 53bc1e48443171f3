/**
 * Every BLCR option of cr_checkpoint and cr_restart (docs/blcr-compatibility.md)
 * parsed into the plan the commands execute, and the getopt-like parser itself.
 */
import test from 'ava';
import { parseCheckpointArgs } from '../../src/cli/blcr/checkpoint-options.js';
import { parseRestartArgs } from '../../src/cli/blcr/restart-options.js';
import { UsageError } from '../../src/cli/errors.js';
import { parseOptions } from '../../src/cli/options.js';

const cp = (...argv: string[]) => {
  const plan = parseCheckpointArgs(argv).plan;
  if (!plan) throw new Error('no plan');
  return plan;
};
const rs = (...argv: string[]) => {
  const plan = parseRestartArgs(argv).plan;
  if (!plan) throw new Error('no plan');
  return plan;
};

test('cr_checkpoint defaults are BLCR defaults', (t) => {
  const p = cp('42');
  t.is(p.id, 42);
  t.is(p.scope, 'tree');
  t.false(p.scopeExplicit);
  t.deepEqual(p.destination, { kind: 'default' });
  t.is(p.replace, 'atomic');
  t.deepEqual(p.after, { kind: 'run' });
  t.true(p.sync);
  t.deepEqual(p.save, []);
  t.is(p.ptraced, 'error');
  t.is(p.ptracer, 'error');
  t.is(p.timeoutSec, undefined);
});

test('cr_checkpoint scope -T -p -g -s and long forms; the last wins', (t) => {
  t.is(cp('-p', '1').scope, 'pid');
  t.is(cp('--pid', '1').scope, 'pid');
  t.is(cp('-g', '1').scope, 'pgid');
  t.is(cp('--pgid', '1').scope, 'pgid');
  t.is(cp('-s', '1').scope, 'sid');
  t.is(cp('--sid', '1').scope, 'sid');
  t.is(cp('-T', '1').scope, 'tree');
  t.is(cp('-p', '--tree', '1').scope, 'tree');
  t.true(cp('-T', '1').scopeExplicit);
});

test('cr_checkpoint destinations -f -F -c', (t) => {
  t.deepEqual(cp('-f', 'ctx', '1').destination, { kind: 'file', path: 'ctx' });
  t.deepEqual(cp('-fctx', '1').destination, { kind: 'file', path: 'ctx' });
  t.deepEqual(cp('--file=ctx', '1').destination, { kind: 'file', path: 'ctx' });
  t.deepEqual(cp('--file', 'ctx', '1').destination, { kind: 'file', path: 'ctx' });
  t.deepEqual(cp('-F', '3', '1').destination, { kind: 'fd', fd: 3 });
  t.deepEqual(cp('--fd=3', '1').destination, { kind: 'fd', fd: 3 });
  t.deepEqual(cp('-c', '1').destination, { kind: 'cwd' });
  t.deepEqual(cp('--cwd', '1').destination, { kind: 'cwd' });
  t.throws(() => cp('-f', 'a', '-c', '1'), {
    instanceOf: UsageError,
    message: /choose one destination/,
  });
  t.throws(() => cp('-F', 'x', '1'), { instanceOf: UsageError, message: /FD of '-F'/ });
  t.throws(() => cp('-F', '3', '--backup', '1'), {
    instanceOf: UsageError,
    message: /applies to a file/,
  });
});

test('cr_checkpoint replacement --atomic --backup[=NAME] --clobber --noclobber', (t) => {
  t.is(cp('--atomic', '1').replace, 'atomic');
  const b = cp('--backup', '1');
  t.is(b.replace, 'backup');
  t.is(b.backupName, undefined);
  const named = cp('--backup=old.ctx', '1');
  t.is(named.replace, 'backup');
  t.is(named.backupName, 'old.ctx');
  t.is(cp('--clobber', '1').replace, 'clobber');
  t.is(cp('--noclobber', '1').replace, 'noclobber');
  t.is(cp('--backup=x', '--atomic', '1').backupName, undefined, 'a later --atomic drops the NAME');
  t.throws(() => cp('--backup=', '1'), { message: /needs a NAME/ });
  // --backup takes its value only with '=': a following word is the ID
  t.is(cp('--backup', '7').id, 7);
});

test('cr_checkpoint after-actions --run -S --stop --term --abort --kill --cont', (t) => {
  t.deepEqual(cp('--run', '1').after, { kind: 'run' });
  t.deepEqual(cp('--stop', '1').after, { kind: 'stop' });
  t.deepEqual(cp('--term', '1').after, { kind: 'term' });
  t.deepEqual(cp('--abort', '1').after, { kind: 'abort' });
  t.deepEqual(cp('--kill', '1').after, { kind: 'kill' });
  t.deepEqual(cp('--cont', '1').after, { kind: 'cont' });
  t.deepEqual(cp('-S', '10', '1').after, { kind: 'signal', signal: 10 });
  t.deepEqual(cp('--signal=USR2', '1').after, { kind: 'signal', signal: 12 });
  t.deepEqual(cp('-S', 'SIGHUP', '1').after, { kind: 'signal', signal: 1 });
  t.deepEqual(cp('-S', '0', '1').after, { kind: 'run' });
  t.deepEqual(cp('--kill', '--stop', '1').after, { kind: 'stop' }, 'the last one wins');
  t.throws(() => cp('-S', '65', '1'), { message: /signal number 0..64/ });
});

test('cr_checkpoint --sync --nosync --save-* -t --ptraced-* --ptracer-*', (t) => {
  t.false(cp('--nosync', '1').sync);
  t.true(cp('--nosync', '--sync', '1').sync);
  t.deepEqual(
    cp('--save-exe', '--save-private', '--save-shared', '--save-all', '--save-none', '1').save,
    ['exe', 'private', 'shared', 'all', 'none'],
  );
  t.is(cp('-t', '2.5', '1').timeoutSec, 2.5);
  t.is(cp('--time=30', '1').timeoutSec, 30);
  t.throws(() => cp('-t', '-1', '1'), { message: /-t\/--time/ });
  t.is(cp('--ptraced-skip', '1').ptraced, 'skip');
  t.is(cp('--ptraced-allow', '1').ptraced, 'allow');
  t.is(cp('--ptraced-error', '1').ptraced, 'error');
  t.is(cp('--ptracer-skip', '1').ptracer, 'skip');
  t.is(cp('--ptracer-error', '1').ptracer, 'error');
});

test('cr_checkpoint bundles short flags and rejects bad IDs', (t) => {
  const p = cp('-pf', 'ctx', '1');
  t.is(p.scope, 'pid');
  t.deepEqual(p.destination, { kind: 'file', path: 'ctx' });
  t.true(cp('-qv', '1').quiet);
  t.throws(() => cp('0'), { message: /integer from 1/ });
  t.throws(() => cp('12abc'), { message: /integer from 1/ });
  t.throws(() => cp(), { message: /missing the ID/ });
  t.is(parseCheckpointArgs(['--help']).plan, undefined);
});

test('cr_restart defaults and sources', (t) => {
  const p = rs('ctx');
  t.deepEqual(p.source, { kind: 'file', path: 'ctx' });
  t.true(p.restorePid);
  t.false(p.restorePgid);
  t.false(p.restoreSid);
  t.deepEqual(p.relocate, []);
  t.deepEqual(p.after, { kind: 'run' });
  t.deepEqual(rs('-f', 'ctx').source, { kind: 'file', path: 'ctx' });
  t.deepEqual(rs('--file=ctx').source, { kind: 'file', path: 'ctx' });
  t.deepEqual(rs('-F', '0').source, { kind: 'fd', fd: 0 });
  t.throws(() => rs('-f', 'a', 'b'), { message: /expected one context file/ });
  t.throws(() => rs(), { message: /missing the context FILE/ });
});

test('cr_restart --[no-]restore-pid/-pgid/-sid', (t) => {
  t.false(rs('--no-restore-pid', 'f').restorePid);
  t.true(rs('--no-restore-pid', '--restore-pid', 'f').restorePid);
  t.true(rs('--restore-pgid', 'f').restorePgid);
  t.false(rs('--restore-pgid', '--no-restore-pgid', 'f').restorePgid);
  t.true(rs('--restore-sid', 'f').restoreSid);
  t.false(rs('--restore-sid', '--no-restore-sid', 'f').restoreSid);
});

test('cr_restart --relocate OLD=NEW, up to 16, absolute, escaped =', (t) => {
  t.deepEqual(rs('--relocate', '/a=/b', '--relocate=/c=/d', 'f').relocate, ['/a=/b', '/c=/d']);
  t.deepEqual(rs('--relocate', '/x\\=y=/z', 'f').relocate, ['/x\\=y=/z']);
  t.throws(() => rs('--relocate', 'a=/b', 'f'), { message: /absolute/ });
  t.throws(() => rs('--relocate', '/a=/b=/c', 'f'), { message: /more than one '='/ });
  const many = Array.from({ length: 17 }, (_, i) => ['--relocate', `/o${i}=/n${i}`]).flat();
  t.throws(() => rs(...many, 'f'), { message: /at most 16/ });
  t.is(rs(...many.slice(0, 32), 'f').relocate.length, 16);
});

test('cr_restart after-actions and --run-on-* commands', (t) => {
  t.deepEqual(rs('--stop', 'f').after, { kind: 'stop' });
  t.deepEqual(rs('--kill', 'f').after, { kind: 'kill' });
  t.deepEqual(rs('--term', 'f').after, { kind: 'term' });
  t.deepEqual(rs('--abort', 'f').after, { kind: 'abort' });
  t.deepEqual(rs('--cont', 'f').after, { kind: 'cont' });
  t.deepEqual(rs('-S', '2', 'f').after, { kind: 'signal', signal: 2 });
  const p = rs(
    '--run-on-success=echo ok',
    '--run-on-failure',
    'echo bad',
    '--run-on-fail-args=a',
    '--run-on-fail-temp=t',
    '--run-on-fail-env=e',
    '--run-on-fail-perm=p',
    'f',
  );
  t.is(p.runOnSuccess, 'echo ok');
  t.is(p.runOnFailure, 'echo bad');
  t.deepEqual(p.runOnFail, { args: 'a', temp: 't', env: 'e', perm: 'p' });
});

test('the option parser: --, optional values, stop at positional', (t) => {
  const specs = [
    { long: 'flag', short: 'x' },
    { long: 'val', short: 'v', arg: 'required' as const },
  ];
  t.deepEqual(parseOptions(['--', '-x', '--val'], specs).positionals, ['-x', '--val']);
  const stop = parseOptions(['-x', 'prog', '-x', '--val'], specs, { stopAtPositional: true });
  t.deepEqual(stop.positionals, ['prog', '-x', '--val']);
  t.is(stop.options.length, 1);
  t.throws(() => parseOptions(['--flag=1'], specs), { message: /takes no argument/ });
  t.throws(() => parseOptions(['--val'], specs), { message: /requires an argument/ });
  t.throws(() => parseOptions(['-y'], specs), { message: /unknown option '-y'/ });
  t.deepEqual(parseOptions(['-'], specs).positionals, ['-'], 'a lone dash is a positional');
});
