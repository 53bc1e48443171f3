/**
 * The public face of the policy layer: pure rxjs policies from health events, commands, jobs
 * and checkpoint outcomes to arbitrated checkpoint/resume decisions, and the policy-file loader.
 * See docs/policies.md.
 */
export { adaptiveIntervalMs } from './adaptive.js';
export { defaultPolicySet } from './defaults.js';
export { formatDuration, parseDuration } from './duration.js';
export { createPolicyEngine, DEFAULT_COLLAPSE_WINDOW_MS } from './engine.js';
export { PolicyEngineError, PolicyFileError, PolicyInputError } from './errors.js';
export { dalyInterval, estimateMtbf, youngInterval } from './interval.js';
export { loadPolicyFile, loadPolicyFiles, parsePolicyText } from './load.js';
export type {
  AdaptivePolicy,
  AutomaticPolicy,
  AutomaticRule,
  CheckpointOutcomeEvent,
  DataCondition,
  JobSelector,
  JobSnapshot,
  MtbfSpec,
  PeriodicPolicy,
  Policy,
  PolicyCommand,
  PolicyDecision,
  PolicyEngineOptions,
  PolicyInputs,
  PolicyKind,
  PolicySet,
  PreemptivePolicy,
} from './types.js';
