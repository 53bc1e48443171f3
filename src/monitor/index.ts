/** Public face of the health monitor. */
export type { Finding, MonitorState, Thresholds } from './decide.js';
export {
  DEFAULT_THRESHOLDS,
  EVENT_TYPES,
  evaluate,
  initialState,
  validateThresholds,
} from './decide.js';
export { MonitorConfigError, MonitorReadError } from './errors.js';
export { findingToEvent, MONITOR_SOURCE } from './events.js';
export type { Monitor, MonitorOptions } from './monitor.js';
export { createMonitor, runMonitor } from './monitor.js';
export type { PsiResource, Sample, ThermalZone } from './readings.js';
export { readSample } from './readings.js';
