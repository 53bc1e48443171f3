/**
 * Optimal checkpoint intervals from the checkpoint cost delta and the mean time between
 * failures M (same unit for both; the result is in that unit).
 *   Young (1974): T = sqrt(2 delta M)
 *   Daly (2006):  T = sqrt(2 delta M) (1 + sqrt(delta/2M)/3 + (delta/2M)/9) - delta, delta < 2M
 *                 T = M otherwise
 */

export function youngInterval(delta: number, mtbf: number): number {
  checkArgs(delta, mtbf);
  return Math.sqrt(2 * delta * mtbf);
}

export function dalyInterval(delta: number, mtbf: number): number {
  checkArgs(delta, mtbf);
  if (delta >= 2 * mtbf) return mtbf;
  const r = delta / (2 * mtbf);
  return Math.sqrt(2 * delta * mtbf) * (1 + Math.sqrt(r) / 3 + r / 9) - delta;
}

function checkArgs(delta: number, mtbf: number): void {
  if (!(Number.isFinite(delta) && delta >= 0))
    throw new RangeError(`checkpoint cost must be a finite number >= 0, got ${delta}`);
  if (!(Number.isFinite(mtbf) && mtbf > 0))
    throw new RangeError(`MTBF must be a finite number > 0, got ${mtbf}`);
}

/**
 * MTBF estimate from `failures` failures seen over `observedMs` (at most the window), with
 * the prior counted as one pseudo-failure after `priorMs`: (observed + prior) / (failures + 1).
 * No failures and little observation give the prior; many failures approach observed/failures.
 */
export function estimateMtbf(priorMs: number, failures: number, observedMs: number): number {
  return (Math.max(0, observedMs) + priorMs) / (failures + 1);
}

export function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
