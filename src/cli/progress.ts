/**
 * A one-line progress bar for long checkpoints and restarts, on stderr when it is
 * a terminal; silent otherwise (scripts, pipes, logs). It polls a reader (the
 * libckpt ckpt_progress struct, through the binding) and appears only when the
 * operation takes longer than `delayMs`, so quick ones print nothing.
 */

export interface ProgressSnapshot {
  bytesDone: number;
  bytesTotal: number; // 0 until known
  phase?: number; // enum ckpt_phase
}

const PHASES = ['', 'freezing', 'state', 'memory', 'syncing', 'verifying', 'restoring', 'done'];

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** The text of one frame (pure, for tests): bar, percent, bytes, rate, phase. */
export function renderProgress(
  s: ProgressSnapshot,
  elapsedMs: number,
  width = 24,
  withRate = true,
): string {
  const rate = elapsedMs > 0 ? (s.bytesDone * 1000) / elapsedMs : 0;
  const phase = PHASES[s.phase ?? 0] ?? '';
  const tail = [withRate ? `${formatBytes(rate)}/s` : '', phase].filter(Boolean).join(' ');
  if (s.bytesTotal <= 0) return `${formatBytes(s.bytesDone)} ${tail}`;
  const fraction = Math.min(1, Math.max(0, s.bytesDone / s.bytesTotal));
  const filled = Math.round(fraction * width);
  const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
  const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
  return `[${bar}] ${pct} ${formatBytes(s.bytesDone)} / ${formatBytes(s.bytesTotal)}${tail ? ` ${tail}` : ''}`;
}

/**
 * One frame that fits `columns - 1` characters whole: the bar narrows first
 * (24 down to 10), then the rate goes (bar 24 down to 6), then the bar; the
 * phase word is never cut.
 */
export function fitProgress(
  label: string,
  s: ProgressSnapshot,
  elapsedMs: number,
  columns: number,
): string {
  const room = Math.max(20, columns - 1);
  for (const [min, withRate] of [
    [10, true],
    [6, false],
  ] as const) {
    for (let width = 24; width >= min; width--) {
      const line = `${label} ${renderProgress(s, elapsedMs, width, withRate)}`;
      if (line.length <= room) return line;
    }
  }
  const phase = PHASES[s.phase ?? 0] ?? '';
  const pct =
    s.bytesTotal > 0 ? `${Math.floor(Math.min(1, s.bytesDone / s.bytesTotal) * 100)}% ` : '';
  const short = `${label} ${pct}${formatBytes(s.bytesDone)}${phase ? ` ${phase}` : ''}`;
  if (short.length <= room) return short;
  const end = `${pct}${phase}`.trim();
  return `${label.slice(0, Math.max(0, room - end.length - 1))} ${end}`;
}

export interface ProgressOptions {
  label: string;
  read(): ProgressSnapshot;
  stream?: NodeJS.WriteStream;
  delayMs?: number;
  intervalMs?: number;
}

/** Start polling; call the returned function when the operation ends. */
export function startProgress(opts: ProgressOptions): () => void {
  const stream = opts.stream ?? process.stderr;
  if (!stream.isTTY) return () => {};
  const started = Date.now();
  let shown = false;
  const draw = () => {
    const elapsed = Date.now() - started;
    if (elapsed < (opts.delayMs ?? 500)) return;
    let line: string;
    try {
      line = fitProgress(opts.label, opts.read(), elapsed, stream.columns ?? 80);
    } catch {
      return; // a progress read must never break the operation
    }
    stream.write(`\r${line}\x1b[K`);
    shown = true;
  };
  const timer = setInterval(draw, opts.intervalMs ?? 100);
  timer.unref();
  return () => {
    clearInterval(timer);
    if (shown) stream.write('\r\x1b[K');
  };
}
