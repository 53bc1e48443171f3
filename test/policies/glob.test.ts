import test from 'ava';
import { compileGlob, globMatcher, globProblem } from '../../src/policies/glob.js';

test('globs: * any run (dots too), ? one character, sets and negated sets', (t) => {
  const m = globMatcher('node.failure.*');
  t.true(m('node.failure.imminent'));
  t.true(m('node.failure.'));
  t.false(m('node.failures'));
  t.false(m('xnode.failure.a'));
  t.true(globMatcher('node.*')('node.failure.imminent'));
  t.true(globMatcher('n?')('n1'));
  t.false(globMatcher('n?')('n12'));
  t.true(globMatcher('mpi-[0-9]')('mpi-7'));
  t.false(globMatcher('mpi-[!0-9]')('mpi-7'));
  t.true(globMatcher('mpi-[!0-9]')('mpi-x'));
  t.true(globMatcher('a.b')('a.b'));
  t.false(globMatcher('a.b')('axb'), 'a dot is literal');
  t.true(globMatcher('*')('anything at all'));
});

test('bad globs name the problem', (t) => {
  t.is(globProblem(''), 'empty glob');
  t.is(globProblem('a[bc'), "unclosed '[' at position 2");
  t.is(globProblem('a[]'), 'empty character set at position 2');
  t.is(globProblem('a[!]'), 'empty character set at position 2');
  t.is(globProblem('a[z-a]'), 'reversed range z-a');
  t.is(globProblem('a/b'), 'character "/" at position 2');
  t.is(globProblem('a[^b]'), 'character "^" in a character set');
  t.is(globProblem('node.thermal.*'), undefined);
  t.throws(() => compileGlob('a b'), {
    instanceOf: TypeError,
    message: 'bad glob "a b": character " " at position 2',
  });
});
