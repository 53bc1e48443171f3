import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import {
  defaultPolicySet,
  loadPolicyFiles,
  type Policy,
  PolicyFileError,
  parseDuration,
  parsePolicyText,
} from '../../src/policies/index.js';

const SHIPPED = 'config/policies';
const DURATION = 'a duration: 10s, 5m, 1h (also ms, d) or a number of milliseconds, more than 0';
const DOC = "a mapping with a 'policies' list (and optionally version: 1)";

const dir = mkdtempSync(join(tmpdir(), 'ckpt-policies-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

test('every shipped policy file loads', (t) => {
  const names = readdirSync(SHIPPED).filter((n) => /\.(ya?ml|json)$/.test(n));
  t.true(names.length >= 5, names.join(', '));
  for (const name of names) {
    const set = loadPolicyFiles([join(SHIPPED, name)]);
    t.true(set.policies.length > 0, name);
    t.deepEqual(set.files, [join(SHIPPED, name)]);
  }
  // and together (names are unique across them)
  const all = loadPolicyFiles(
    names.filter((n) => n !== 'default.yaml').map((n) => join(SHIPPED, n)),
  );
  t.deepEqual([...new Set(all.policies.map((p) => p.kind))].sort(), [
    'adaptive',
    'automatic',
    'periodic',
    'preemptive',
  ]);
});

test('config/policies/default.yaml is exactly defaultPolicySet()', (t) => {
  const strip = (ps: Policy[]) => ps.map(({ origin: _origin, ...rest }) => rest);
  t.deepEqual(
    strip(loadPolicyFiles([join(SHIPPED, 'default.yaml')]).policies),
    strip(defaultPolicySet().policies),
  );
});

test('no files: the default set', (t) => {
  t.deepEqual(loadPolicyFiles([]), defaultPolicySet());
});

test('a YAML file with every kind and key becomes the expected policies', (t) => {
  const path = file(
    'full.yaml',
    `version: 1
policies:
  - name: hourly
    kind: periodic
    interval: 1h
    jobs: [a, b]
    scope: policy
    after: stop
    cooldown: 90000
  - name: yd
    kind: adaptive
    formula: young
    initialInterval: 30m
    minInterval: 2m
    maxInterval: 2h
    costSamples: 4
    mtbf: { prior: 1d, window: 7d, severity: fatal, types: "node.*" }
  - name: hot
    kind: automatic
    jobs: "mpi-*"
    after: kill
    cooldown: 5s
    rules:
      - type: node.thermal.*
        severity: warning
        node: "n[12]"
        where: [{ path: zone.tempC, op: ">=", value: 95 }, { path: ok, op: "!=", value: true }]
        count: 3
        within: 1m
        target: event
  - name: pre
    kind: preemptive
    description: free the node
`,
  );
  const [periodic, adaptive, automatic, preemptive] = loadPolicyFiles([path]).policies;
  t.like(periodic, {
    kind: 'periodic',
    intervalMs: 3_600_000,
    jobs: { ids: ['a', 'b'] },
    scope: 'policy',
    after: 'stop',
    cooldownMs: 90_000,
  });
  t.like(adaptive, {
    kind: 'adaptive',
    formula: 'young',
    initialIntervalMs: 1_800_000,
    minIntervalMs: 120_000,
    maxIntervalMs: 7_200_000,
    costSamples: 4,
    cooldownMs: 60_000, // default: half of minInterval
    after: 'continue',
    mtbf: { priorMs: 86_400_000, windowMs: 604_800_000, severity: 'fatal', types: 'node.*' },
  });
  t.deepEqual(automatic, {
    kind: 'automatic',
    name: 'hot',
    origin: `${path} policies[2]`,
    jobs: { glob: 'mpi-*' },
    after: 'kill',
    cooldownMs: 5000,
    rules: [
      {
        type: 'node.thermal.*',
        severity: 'warning',
        node: 'n[12]',
        where: [
          { path: 'zone.tempC', op: '>=', value: 95 },
          { path: 'ok', op: '!=', value: true },
        ],
        count: 3,
        withinMs: 60_000,
        target: 'event',
      },
    ],
  });
  t.like(preemptive, {
    kind: 'preemptive',
    after: 'stop',
    cooldownMs: 0,
    jobs: { glob: '*' },
    description: 'free the node',
  });
});

test('durations: 10s, 5m, 1h, ms, d and plain milliseconds; nothing else', (t) => {
  t.is(parseDuration('10s'), 10_000);
  t.is(parseDuration('5m'), 300_000);
  t.is(parseDuration('1h'), 3_600_000);
  t.is(parseDuration('250ms'), 250);
  t.is(parseDuration('2d'), 172_800_000);
  t.is(parseDuration('1.5s'), 1500);
  t.is(parseDuration(1234), 1234);
  for (const bad of [
    '10',
    '5 minutes',
    '1H',
    '-1s',
    '',
    's',
    -1,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    null,
    true,
    {},
  ])
    t.is(parseDuration(bad), undefined, String(bad));
});

/** Each kind of mistake, with the exact message. */
const BAD: [string, string, string, string][] = [
  // [title, file name, text, message after "<file>"]
  [
    'unknown kind',
    'a.yaml',
    'policies:\n  - name: x\n    kind: sometimes\n',
    ':3:11: policies[0].kind: not a policy kind (got "sometimes"); expected one of periodic, adaptive, automatic, preemptive',
  ],
  [
    'unknown key',
    'a.yaml',
    'policies:\n  - name: x\n    kind: periodic\n    interval: 1h\n    intervall: 2h\n',
    ':5:16: policies[0].intervall: unknown key (got "intervall"); expected one of the keys name, kind, description, jobs, after, cooldown, interval, scope',
  ],
  [
    'unknown key in a rule',
    'a.yaml',
    'policies:\n  - name: c\n    kind: automatic\n    rules:\n      - type: x\n        severty: fatal\n',
    ':6:18: policies[0].rules[0].severty: unknown key (got "severty"); expected one of the keys type, severity, node, where, count, within, target',
  ],
  [
    'wrong type',
    'a.yaml',
    'policies:\n  - name: x\n    kind: periodic\n    interval: 1h\n    scope: [job]\n',
    ':5:12: policies[0].scope: not a string (a list) (got ["job"]); expected one of job, policy',
  ],
  [
    'wrong type: rules not a list',
    'a.yaml',
    'policies:\n  - name: c\n    kind: automatic\n    rules: {type: x}\n',
    ':4:12: policies[0].rules: not a list (a mapping) (got {"type":"x"}); expected a non-empty list of rules, each a mapping with at least type (a glob)',
  ],
  [
    'bad duration',
    'a.yaml',
    'policies:\n  - name: x\n    kind: periodic\n    interval: 10 minutes\n',
    `:4:15: policies[0].interval: not a duration (got "10 minutes"); expected ${DURATION}`,
  ],
  [
    'zero duration',
    'a.yaml',
    'policies:\n  - name: x\n    kind: periodic\n    interval: 0s\n',
    `:4:15: policies[0].interval: zero duration (got "0s"); expected ${DURATION}`,
  ],
  [
    'negative number duration',
    'a.yaml',
    'policies:\n  - name: x\n    kind: periodic\n    interval: -5\n',
    `:4:15: policies[0].interval: negative duration (got -5); expected ${DURATION}`,
  ],
  [
    'negative duration string',
    'a.yaml',
    'policies:\n  - name: x\n    kind: adaptive\n    initialInterval: 1h\n    mtbf: {prior: 1d, window: -1h}\n',
    `:5:31: policies[0].mtbf.window: negative duration (got "-1h"); expected ${DURATION}`,
  ],
  [
    'negative count',
    'a.yaml',
    'policies:\n  - name: c\n    kind: automatic\n    rules:\n      - type: node.*\n        count: -2\n',
    ':6:16: policies[0].rules[0].count: negative number (got -2); expected a whole number from 1 to 1000000',
  ],
  [
    'negative costSamples',
    'a.yaml',
    'policies:\n  - name: x\n    kind: adaptive\n    initialInterval: 1h\n    costSamples: -3\n    mtbf: 1d\n',
    ':5:18: policies[0].costSamples: negative number (got -3); expected a whole number from 1 to 1000',
  ],
  [
    'bad glob',
    'a.yaml',
    'policies:\n  - name: x\n    kind: periodic\n    interval: 1h\n    jobs: "mpi-[0-9"\n',
    `:5:11: policies[0].jobs: bad glob: unclosed '[' at position 5 (got "mpi-[0-9"); expected a glob of letters, digits, '_', '-', '.', with * (any run), ? (one character), [a-z] or [!a-z]`,
  ],
  [
    'bad glob character in an event type',
    'a.yaml',
    'policies:\n  - name: c\n    kind: automatic\n    rules:\n      - type: "node/failure"\n',
    `:5:15: policies[0].rules[0].type: bad glob: character "/" at position 5 (got "node/failure"); expected a glob of letters, digits, '_', '-', '.', with * (any run), ? (one character), [a-z] or [!a-z]`,
  ],
  [
    'bad severity deep in a rule',
    'a.yaml',
    'policies:\n  - {name: a, kind: preemptive}\n  - {name: b, kind: preemptive}\n  - name: c\n    kind: automatic\n    rules:\n      - type: node.*\n        severity: critical\n',
    ':8:19: policies[2].rules[0].severity: not a severity (got "critical"); expected one of info, warning, error, fatal',
  ],
  [
    'count without a window',
    'a.yaml',
    'policies:\n  - name: c\n    kind: automatic\n    rules:\n      - type: node.*\n        count: 3\n',
    ':5:9: policies[0].rules[0].within: missing (count is 3); expected a duration: the window the count must fall within',
  ],
  [
    'threshold not a number',
    'a.yaml',
    'policies:\n  - name: c\n    kind: automatic\n    rules:\n      - type: node.*\n        where: {path: t, op: ">", value: "95"}\n',
    ':6:42: policies[0].rules[0].where.value: not a number (needed for >) (got "95"); expected a number',
  ],
  [
    'missing key',
    'a.yaml',
    'policies:\n  - name: c\n    kind: periodic\n',
    ':2:5: policies[0].interval: missing; expected a duration: 10s, 5m, 1h or a number of milliseconds',
  ],
  [
    'cooldown not shorter than the interval',
    'a.json',
    '{"policies": [{"name": "x", "kind": "periodic", "interval": "1h", "cooldown": "2h"}]}',
    ':1:79: policies[0].cooldown: not shorter than interval (1h) (got "2h"); expected a duration shorter than interval',
  ],
  [
    'preempt that does not free the node',
    'a.yaml',
    'policies:\n  - name: x\n    kind: preemptive\n    after: continue\n',
    ':4:12: policies[0].after: not an action that frees the node (got "continue"); expected one of stop, terminate, kill',
  ],
  [
    'duplicate names in a file',
    'a.yaml',
    'policies:\n  - name: x\n    kind: preemptive\n  - name: x\n    kind: preemptive\n',
    ':4:11: policies[1].name: duplicate policy name (also policies[0]) (got "x"); expected a name unique across all policy files',
  ],
  [
    'bad name',
    'a.yaml',
    'policies:\n  - name: bad name\n    kind: preemptive\n',
    ':2:11: policies[0].name: not a valid name (got "bad name"); expected a name of 1-64 characters of A-Z a-z 0-9 _ -',
  ],
  [
    'unsupported version',
    'a.yaml',
    'version: 2\npolicies: [{name: x, kind: preemptive}]\n',
    ':1:10: version: unsupported version (got 2); expected version: 1',
  ],
  [
    'no policies',
    'a.yaml',
    'policies: []\n',
    ':1:11: policies: empty list (got []); expected a non-empty list of policies',
  ],
  [
    'a list instead of a mapping',
    'a.yaml',
    '- name: x\n  kind: periodic\n',
    `:1:1: not a mapping (a list) (got [{"name":"x","kind":"periodic"}]); expected ${DOC}`,
  ],
  [
    'malformed YAML',
    'a.yaml',
    'policies:\n  - name: c\n  kind: periodic\n',
    `:3:1: malformed YAML: All mapping items must start at the same column; expected YAML holding ${DOC}`,
  ],
  [
    'malformed YAML: duplicate key',
    'a.yaml',
    'policies:\n  - name: x\n    name: y\n    kind: preemptive\n',
    `:3:5: malformed YAML: Map keys must be unique; expected YAML holding ${DOC}`,
  ],
  [
    'malformed JSON',
    'a.json',
    '{"policies": [ {"name": "x", "kind": "periodic",, } ]}',
    `:1:49: malformed JSON: Expected double-quoted property name in JSON at position 48; expected JSON holding ${DOC}`,
  ],
  ['empty file', 'a.json', '   \n', `: the file is empty; expected ${DOC}`],
  [
    'only a comment',
    'a.yaml',
    '# nothing here\n',
    `: the file holds no document (only comments or blank lines); expected ${DOC}`,
  ],
];

for (const [title, name, text, message] of BAD) {
  test(`bad file: ${title}`, (t) => {
    const path = file(`${title.replace(/\W+/g, '-')}-${name}`, text);
    const err = t.throws(() => loadPolicyFiles([path]), { instanceOf: PolicyFileError });
    t.is(err?.message, `${path}${message}`);
    t.is(err?.file, path);
    t.is(err?.name, 'PolicyFileError');
  });
}

test('the error carries the key path, value and accepted form as fields', (t) => {
  const err = t.throws(
    () =>
      parsePolicyText(
        'policies:\n  - name: c\n    kind: automatic\n    rules:\n      - type: x\n        severity: 7\n',
        'p.yaml',
      ),
    { instanceOf: PolicyFileError },
  );
  t.is(err?.keyPath, 'policies[0].rules[0].severity');
  t.is(err?.value, 7);
  t.is(err?.accepted, 'one of info, warning, error, fatal');
  t.is(err?.line, 6);
  t.is(err?.column, 19);
});

test('files together: a name used in two files is refused naming both', (t) => {
  const a = file('one.yaml', 'policies:\n  - {name: pre, kind: preemptive}\n');
  const b = file(
    'two.json',
    '{"policies": [{"name": "x", "kind": "preemptive"}, {"name": "pre", "kind": "preemptive"}]}',
  );
  const err = t.throws(() => loadPolicyFiles([a, b]), { instanceOf: PolicyFileError });
  t.is(
    err?.message,
    `${b}: policies[1].name: duplicate policy name (also in ${a} policies[0]) (got "pre"); expected a name unique across all policy files`,
  );
});

test('unreadable and unknown files', (t) => {
  const missing = join(dir, 'missing.yaml');
  const e1 = t.throws(() => loadPolicyFiles([missing]), { instanceOf: PolicyFileError });
  t.is(e1?.message, `${missing}: cannot read the file (ENOENT); expected a readable policy file`);
  t.is((e1?.cause as NodeJS.ErrnoException | undefined)?.code, 'ENOENT');
  const txt = file('policies.txt', 'policies: []');
  const e2 = t.throws(() => loadPolicyFiles([txt]), { instanceOf: PolicyFileError });
  t.is(e2?.message, `${txt}: unknown file type '.txt'; expected a .yaml, .yml or .json file`);
});
