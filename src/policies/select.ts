/** Which jobs a policy applies to, and which job states count for timers and targets. */
import type { JobState } from '../shared/types.js';
import { globMatcher } from './glob.js';
import type { JobSelector, JobSnapshot } from './types.js';

/** States in which a job gets periodic/adaptive timers. */
const TIMED_STATES: ReadonlySet<JobState> = new Set(['running', 'checkpointing']);
/** States in which a job can be checkpointed at all (automatic targets). */
const LIVE_STATES: ReadonlySet<JobState> = new Set(['running', 'checkpointing', 'stopped']);

export function jobMatcher(selector: JobSelector): (job: string) => boolean {
  if ('ids' in selector) {
    const ids = new Set(selector.ids);
    return (job) => ids.has(job);
  }
  return globMatcher(selector.glob);
}

/** Ids of the selected jobs that should have timers, without duplicates, in list order. */
export function timedJobIds(jobs: JobSnapshot[], matches: (job: string) => boolean): string[] {
  return uniqueIds(jobs.filter((j) => TIMED_STATES.has(j.state) && matches(j.id)));
}

/** Ids of the selected jobs that can be checkpointed now. */
export function liveJobIds(jobs: JobSnapshot[], matches: (job: string) => boolean): string[] {
  return uniqueIds(jobs.filter((j) => LIVE_STATES.has(j.state) && matches(j.id)));
}

function uniqueIds(jobs: JobSnapshot[]): string[] {
  return [...new Set(jobs.map((j) => j.id))];
}

export function describeSelector(selector: JobSelector): string {
  return 'ids' in selector ? selector.ids.join(', ') : selector.glob;
}
