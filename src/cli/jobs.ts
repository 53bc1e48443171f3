/** `ckpt jobs --node NODE`: the jobs a node's daemon manages, as a table or JSON. */

import { printable } from '../shared/printable.js';
import type { JobInfo } from '../shared/types.js';
import { withBus } from './bus-client.js';
import { CliError, UsageError } from './errors.js';
import { LOCAL_DAEMON_HELP, LOCAL_DAEMON_SPECS, localDaemon } from './local-daemon.js';
import { has, parseOptions } from './options.js';
import type { Verb } from './verb.js';

const HELP = `Usage: ckpt jobs [--node NODE] [--bus URL] [--json]

List the jobs the daemon on NODE (default: the local daemon) manages: id, PID,
state, owner, the latest good image and the command.

Options:
      --json                 print the daemon's answer as JSON
${LOCAL_DAEMON_HELP}`;

function jobList(reply: unknown): JobInfo[] {
  const list = Array.isArray(reply) ? reply : (reply as { jobs?: unknown } | null)?.jobs;
  if (!Array.isArray(list)) {
    const err = (reply as { error?: { message?: string } | string } | null)?.error;
    const msg = typeof err === 'string' ? err : err?.message;
    throw new CliError(msg ? `jobs failed on the daemon: ${msg}` : 'the daemon sent no job list');
  }
  return list as JobInfo[];
}

export function formatJobs(jobs: readonly JobInfo[]): string {
  if (jobs.length === 0) return 'no jobs\n';
  // every cell comes from the daemon, and the command line from whoever attached the job:
  // no control character reaches the terminal
  const rows = jobs.map((j) =>
    [
      j.id,
      String(j.pid),
      j.state,
      j.owner?.user ?? String(j.owner?.uid ?? '?'),
      j.lastImage ? `${j.lastImage.time} ${j.lastImage.path}` : '-',
      (j.command ?? []).join(' ') || '-',
    ].map((cell) => printable(String(cell))),
  );
  const head = ['JOB', 'PID', 'STATE', 'OWNER', 'LAST IMAGE', 'COMMAND'];
  const widths = head.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => (r[i] as string).length)),
  );
  const line = (r: string[]) =>
    r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i] as number) : c)).join('  ');
  return `${[head, ...rows].map(line).join('\n')}\n`;
}

export const verb: Verb = {
  name: 'jobs',
  summary: 'list the jobs a node daemon manages',
  help: HELP,
  async run(argv) {
    const parsed = parseOptions(argv, [{ long: 'json' }, ...LOCAL_DAEMON_SPECS]);
    if (parsed.positionals.length)
      throw new UsageError(`unexpected argument '${parsed.positionals[0]}'`);
    const { settings, node } = localDaemon(parsed, 'jobs');
    const reply = await withBus(settings, (bus) =>
      bus.request(node, 'jobs', {}, settings.timeoutMs),
    );
    const jobs = jobList(reply);
    process.stdout.write(has(parsed, 'json') ? `${JSON.stringify(jobs)}\n` : formatJobs(jobs));
    return 0;
  },
};
