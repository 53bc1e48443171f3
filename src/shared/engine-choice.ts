/**
 * Which checkpoint engine to use (docs/kernel-engine.md): `user` freezes with
 * ptrace and injects syscalls, `kernel` freezes through /dev/ckpt (kmod/ckpt.ko,
 * no ptrace: works on a process under gdb or strace), `auto` takes the module
 * when /dev/ckpt is present and answers libckpt's ABI, else the user engine
 * (and the user engine for a process stopped by job control, which the module
 * cannot freeze).
 * Both write the same image format; either restarts both.
 */
export const ENGINE_CHOICES = ['auto', 'user', 'kernel'] as const;
export type EngineChoice = (typeof ENGINE_CHOICES)[number];

export function isEngineChoice(v: unknown): v is EngineChoice {
  return typeof v === 'string' && (ENGINE_CHOICES as readonly string[]).includes(v);
}

/** The engine that did a checkpoint, from libckpt's result (enum ckpt_backend). */
export function engineName(backend: number | undefined): 'user' | 'kernel' | undefined {
  return backend === 1 ? 'user' : backend === 2 ? 'kernel' : undefined;
}

/** What a status reply says about the engine: the choice, what it means here, and why. */
export interface EngineStatus {
  configured: EngineChoice;
  inUse: 'user' | 'kernel' | 'none';
  why: string;
}

/** The engine `choice` resolves to on this machine, from libckpt's probe (ckpt_probe). */
export function engineStatus(choice: EngineChoice, probe: Record<string, unknown>): EngineStatus {
  const backends = probe.backends as Record<string, { available?: boolean; reason?: string }>;
  const kernel = backends?.kernel;
  const auto = probe.auto as { engine?: string; why?: string } | undefined;
  if (choice === 'user')
    return { configured: choice, inUse: 'user', why: 'configured: engine user' };
  if (choice === 'kernel') {
    return kernel?.available
      ? { configured: choice, inUse: 'kernel', why: 'configured: engine kernel; /dev/ckpt present' }
      : {
          configured: choice,
          inUse: 'none',
          why: `configured: engine kernel, but ${kernel?.reason ?? 'the kernel backend is unavailable'}: checkpoints fail until ckpt.ko is loaded (or choose auto or user)`,
        };
  }
  const picked = auto?.engine === 'kernel' ? 'kernel' : 'user';
  return {
    configured: choice,
    inUse: picked,
    why: `auto: ${auto?.why ?? (picked === 'kernel' ? '/dev/ckpt present' : 'no kernel backend')}`,
  };
}
