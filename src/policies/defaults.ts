/** The policy set used when the daemon is given no policy file. */
import type { PolicySet } from './types.js';

/**
 * - fatal-event: a `fatal` health event about this node (any type) checkpoints every job of
 *   the node, which then continues (the node may survive; the image is there if it does not).
 * - preempt: `preempt` commands checkpoint and stop the job (kill if the command says so);
 *   `resume` commands resume it.
 * The same set is shipped as config/policies/default.yaml.
 */
export function defaultPolicySet(): PolicySet {
  return {
    files: [],
    policies: [
      {
        kind: 'automatic',
        name: 'fatal-event',
        description: 'checkpoint every job of this node on a fatal health event about the node',
        origin: 'default',
        jobs: { glob: '*' },
        after: 'continue',
        cooldownMs: 0,
        rules: [
          {
            type: '*',
            severity: 'fatal',
            where: [],
            count: 1,
            withinMs: 0,
            target: 'node',
          },
        ],
      },
      {
        kind: 'preemptive',
        name: 'preempt',
        description: 'checkpoint and stop on preempt commands, resume on resume commands',
        origin: 'default',
        jobs: { glob: '*' },
        after: 'stop',
        cooldownMs: 0,
      },
    ],
  };
}
