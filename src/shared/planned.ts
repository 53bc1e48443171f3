/** What `ckpt status` and the daemon's status say about engines not built yet. */

/**
 * The kernel backend is planned, not built: libckpt's reason names a module
 * (ckpt.ko) that does not exist yet, so say "planned" instead of suggesting
 * one to load.
 */
export function plannedKernel(probe: Record<string, unknown>): Record<string, unknown> {
  const backends = probe.backends as Record<string, Record<string, unknown>> | undefined;
  const kernel = backends?.kernel;
  if (kernel?.available !== false) return probe;
  return {
    ...probe,
    backends: {
      ...backends,
      kernel: {
        available: false,
        reason:
          'planned: kmod/ckpt.ko freezes a process and reads its registers (tested in a VM) but checkpoints do not go through it yet; the userspace engine does the work',
      },
    },
  };
}
