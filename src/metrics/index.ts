/** Public face of the metrics: hooks for the daemon and the scrape endpoint. */
export type {
  CheckpointObservation,
  CkptMetrics,
  OperationResult,
  RestartObservation,
} from './metrics.js';
export { createMetrics } from './metrics.js';
export type { MetricsServer } from './server.js';
export { MetricsServerError, startMetricsServer } from './server.js';
