/**
 * Real target processes for the BLCR command tests: the counter program
 * (test/cli/progs/counter.c, compiled once per test file), its count file,
 * and the checks the tests make on them.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IMAGE_MAGIC } from '../../src/cli/image-file.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const SOURCE = join(HERE, '..', '..', '..', 'test', 'cli', 'progs', 'counter.c');
export const COUNTER = join(mkdtempSync(join(tmpdir(), 'ckpt-counter-')), 'counter');
execFileSync('gcc', ['-O2', '-o', COUNTER, SOURCE]);

export interface Target {
  proc: ChildProcess;
  pid: number;
  countFile: string;
  exited: Promise<number | null>;
}

export function startCounter(dir: string, limit = 100_000): Target {
  mkdirSync(dir, { recursive: true });
  const countFile = join(dir, 'count');
  const proc = spawn(COUNTER, [countFile, String(limit)], { stdio: 'ignore', cwd: dir });
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code, sig) => resolve(code ?? (sig ? -1 : null))),
  );
  return { proc, pid: proc.pid as number, countFile, exited };
}

export async function count(file: string): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const text = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
    if (text) return Number(text);
    await sleep(20);
  }
  throw new Error(`${file} stayed empty`);
}

export async function advancing(file: string): Promise<boolean> {
  const a = await count(file);
  await sleep(200);
  return (await count(file)) > a;
}

export function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

export function procState(pid: number): string | undefined {
  try {
    return /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

export function isImage(path: string): boolean {
  return readFileSync(path).subarray(0, IMAGE_MAGIC.length).equals(IMAGE_MAGIC);
}
