/**
 * Every `ckpt` verb, loaded on demand so a command only pays for what it uses
 * (koffi, NATS). A verb whose module cannot be loaded is reported as not
 * available instead of breaking `ckpt --help`.
 */
import { CliError, EXIT } from './errors.js';
import type { Verb } from './verb.js';

export interface VerbEntry {
  name: string;
  /** Shown by `ckpt --help` when the module cannot be loaded. */
  fallbackSummary: string;
  load(): Promise<{ verb?: unknown }>;
}

export const VERBS: readonly VerbEntry[] = [
  {
    name: 'daemon',
    fallbackSummary: 'run the node daemon (bus, policies, executor)',
    load: () => import('./daemon.js'),
  },
  {
    name: 'run',
    fallbackSummary: 'start a program as a job managed by the daemon',
    load: () => import('./run.js'),
  },
  {
    name: 'attach',
    fallbackSummary: 'register a running process as a job with the daemon',
    load: () => import('./attach.js'),
  },
  {
    name: 'detach',
    fallbackSummary: 'forget a job (the process keeps running)',
    load: () => import('./detach.js'),
  },
  {
    name: 'checkpoint',
    fallbackSummary: 'checkpoint a process to a context file',
    load: () => import('./checkpoint.js'),
  },
  {
    name: 'restart',
    fallbackSummary: 'restart a process from a context file',
    load: () => import('./restart.js'),
  },
  {
    name: 'resume',
    fallbackSummary: 'bring a preempted job back',
    load: () => import('./resume.js'),
  },
  {
    name: 'jobs',
    fallbackSummary: 'list the jobs a daemon manages',
    load: () => import('./jobs.js'),
  },
  {
    name: 'status',
    fallbackSummary: 'show the engine, daemon and bus status',
    load: () => import('./status.js'),
  },
  {
    name: 'inspect',
    fallbackSummary: 'describe a context file',
    load: () => import('./inspect.js'),
  },
  {
    name: 'publish',
    fallbackSummary: 'publish a node-health event on the bus',
    load: () => import('./publish.js'),
  },
  {
    name: 'monitor',
    fallbackSummary: 'watch EDAC, thermal and PSI and publish health events',
    load: () => import('./monitor.js'),
  },
  {
    name: 'policy',
    fallbackSummary: 'check policy files (policy check FILE...)',
    load: () => import('./policy.js'),
  },
];

export function findVerb(name: string): VerbEntry | undefined {
  return VERBS.find((v) => v.name === name);
}

function isVerb(value: unknown): value is Verb {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.name === 'string' &&
    typeof v.summary === 'string' &&
    typeof v.help === 'string' &&
    typeof v.run === 'function'
  );
}

/** Load a verb module, or explain in one line why it is not available. */
export async function loadVerb(entry: VerbEntry): Promise<Verb> {
  let mod: { verb?: unknown };
  try {
    mod = await entry.load();
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND') {
      throw new CliError(
        `'${entry.name}' is not available in this build (module ${missingModule(err)} not found)`,
        EXIT.unavailable,
        { cause: err },
      );
    }
    throw new CliError(
      `'${entry.name}' could not be loaded: ${(err as Error).message}`,
      EXIT.unavailable,
      {
        cause: err,
      },
    );
  }
  if (!isVerb(mod.verb)) {
    throw new CliError(
      `'${entry.name}' is not available: its module does not export a verb {name, summary, help, run}`,
      EXIT.unavailable,
    );
  }
  return mod.verb;
}

function missingModule(err: unknown): string {
  const m = /Cannot find (?:module|package) '([^']+)'/.exec((err as Error).message ?? '');
  if (!m?.[1]) return 'file';
  const path = m[1];
  const at = path.lastIndexOf('/dist/');
  return at >= 0 ? path.slice(at + 1) : path;
}
