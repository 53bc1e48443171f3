/**
 * The docs cannot name a command or an option the CLI does not have: every
 * `ckpt VERB`, `cr_*` command and `--option` in the code of README.md and
 * docs/*.md (inline code and code blocks) is looked up in the real help texts.
 * An option after `ckpt VERB` must be in that verb's help; an option with no
 * command before it must be in some ckpt help. Options of other programs are
 * in the small ALLOWED list, each with its reason.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { CR_CHECKPOINT_USAGE, CR_RESTART_USAGE, CR_RUN_USAGE } from '../../src/cli/blcr/usage.js';
import { loadVerb, VERBS } from '../../src/cli/registry.js';
import { REPO } from './run-cli.js';

/** Options that belong to other programs, and why they appear in our docs. */
const ALLOWED: Record<string, string> = {
  requeue: "sbatch's and scontrol's requeue (docs/scheduler-integration.md)",
  stream: "the nats CLI's `nats sub --stream` (docs/bus.md)",
  now: '`systemctl enable --now` (docs/cli.md)',
  x: "an example of an unknown option in an error message (`unknown option '--x'`)",
  smp: "scripts/vm/run's guest CPU count (docs/kernel-engine.md)",
  mem: "scripts/vm/run's guest memory in MiB (docs/benchmarks.md)",
};

const DOCS = [
  join(REPO, 'README.md'),
  ...readdirSync(join(REPO, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join(REPO, 'docs', f)),
];

/** The code of a markdown file: inline code spans and code-block lines, with where they are. */
function codeOf(file: string): { where: string; code: string }[] {
  const out: { where: string; code: string }[] = [];
  let fenced = false;
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      const where = `${file.slice(REPO.length + 1)}:${i + 1}`;
      if (/^\s*```/.test(line)) {
        fenced = !fenced;
        return;
      }
      if (fenced || /^ {4}/.test(line)) {
        out.push({ where, code: line });
        return;
      }
      for (const m of line.matchAll(/`([^`]+)`/g)) out.push({ where, code: m[1] as string });
    });
  return out;
}

async function helps(): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  for (const entry of VERBS) map.set(`ckpt ${entry.name}`, (await loadVerb(entry)).help);
  map.set('cr_run', CR_RUN_USAGE);
  map.set('cr_checkpoint', CR_CHECKPOINT_USAGE);
  map.set('cr_restart', CR_RESTART_USAGE);
  return map;
}

const hasOption = (help: string, name: string) =>
  new RegExp(`(^|[^\\w-])--${name.replace(/[-]/g, '\\-')}(?![\\w-])`, 'm').test(help);

test('every ckpt verb, cr_* command and --option in README.md and docs/ exists', async (t) => {
  const help = await helps();
  const all = [...help.values()].join('\n');
  const problems: string[] = [];
  let commands = 0;
  let options = 0;
  for (const file of DOCS) {
    for (const { where, code } of codeOf(file)) {
      // segments: a command and what follows it, up to the next command
      const parts = code.split(/(?=(?:\bbin\/|\/)?\bckpt\s+[a-z]|\bcr_[a-z_]+)/);
      for (const part of parts) {
        const cmd = /^(?:\S*\/)?(ckpt\s+([a-z][\w-]*)|cr_[a-z_]+)/.exec(part);
        let own: string | undefined;
        if (cmd) {
          const name = cmd[2] ? `ckpt ${cmd[2]}` : (cmd[1] as string);
          const known = help.has(name) || /^ckpt (help|daemon\.json)$/.test(name);
          // prose like "ckpt run's" or "the ckpt fault-tolerance bus" is not a command line
          if (!known && /^ckpt [a-z]+$/.test(name) && !/fault|command|node|service/.test(name)) {
            problems.push(`${where}: '${name}' is not a command (\`${code}\`)`);
          }
          if (help.has(name)) {
            commands++;
            own = help.get(name);
          }
        }
        for (const m of part.matchAll(/(?<![\w-])--([a-z][a-z0-9_-]*)/g)) {
          const name = m[1] as string;
          if (name.endsWith('-')) continue; // an arrow in a diagram: --koffi-->
          options++;
          if (name in ALLOWED) continue;
          const ok = own !== undefined ? hasOption(own, name) : hasOption(all, name);
          if (!ok) {
            problems.push(
              `${where}: --${name} is not in the help of ${cmd ? cmd[0] : 'any ckpt command'} (\`${code}\`)`,
            );
          }
        }
      }
    }
  }
  t.true(commands > 30, `found ${commands} command mentions`);
  t.true(options > 50, `found ${options} option mentions`);
  t.deepEqual(problems, []);
});

test('the check itself catches a gone option and a gone verb', async (t) => {
  const help = await helps();
  t.false(hasOption(help.get('ckpt run') ?? '', 'pretty'));
  t.false(hasOption(help.get('ckpt daemon') ?? '', 'pretty'), 'the old --pretty is gone');
  t.true(hasOption(help.get('ckpt daemon') ?? '', 'log-format'));
  t.false(help.has('ckpt frobnicate'));
});
