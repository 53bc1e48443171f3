/**
 * `ckpt resume --job JOB` and `ckpt detach --job JOB`: the daemon's resume and
 * detach commands (docs/bus.md) from the command line, sent to the local
 * daemon unless --node/--bus say otherwise.
 */
import { jobOption } from './attach.js';
import { withBus } from './bus-client.js';
import { UsageError } from './errors.js';
import { LOCAL_DAEMON_HELP, LOCAL_DAEMON_SPECS, localDaemon } from './local-daemon.js';
import { has, last, parseOptions } from './options.js';
import { printResult } from './remote.js';
import type { Verb } from './verb.js';

function jobVerb(name: 'resume' | 'detach', summary: string, about: string): Verb {
  return {
    name,
    summary,
    help: `Usage: ckpt ${name} --job JOB [--json] [DAEMON OPTIONS]

${about}

Options:
      --job JOB              the daemon's job id
      --json                 print the daemon's answer as JSON
${LOCAL_DAEMON_HELP}`,
    async run(argv) {
      const parsed = parseOptions(argv, [
        { long: 'job', arg: 'required', argName: 'JOB' },
        { long: 'json' },
        ...LOCAL_DAEMON_SPECS,
      ]);
      if (parsed.positionals.length)
        throw new UsageError(`unexpected argument '${parsed.positionals[0]}'`);
      const job = jobOption(last(parsed, 'job'));
      const { settings, node } = localDaemon(parsed, name);
      const reply = await withBus(settings, (bus) =>
        bus.request(node, name, { job }, settings.timeoutMs),
      );
      return printResult(reply, has(parsed, 'json'), `${name} ${job} on ${node}`);
    },
  };
}

export const resume = jobVerb(
  'resume',
  'bring a preempted job back (continue it, or restart it from its image)',
  `Ask the daemon to bring back job JOB after a preemption: a stopped job gets
SIGCONT, a job that is gone is restarted from its latest good image. The
daemon's preemptive policies decide (a job no preemptive policy selects is
left alone, and the answer says so).`,
);

export const detach = jobVerb(
  'detach',
  'forget a job (the process keeps running)',
  `Ask the daemon to forget job JOB: no policy or command checkpoints it any
more; the process keeps running and its images stay in the catalog.`,
);
