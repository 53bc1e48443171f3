/** Errors of the health monitor. */

/** A sysfs/procfs file exists but cannot be read or does not hold what was expected. */
export class MonitorReadError extends Error {
  override name = 'MonitorReadError';
}

/** A threshold or option of the monitor is out of range. */
export class MonitorConfigError extends Error {
  override name = 'MonitorConfigError';
}
