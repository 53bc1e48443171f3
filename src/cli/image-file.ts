/**
 * A cheap look at a context file before libckpt gets it: it exists, is a regular
 * readable file, and starts with the image magic (native/include/ckpt_image.h).
 * libckpt verifies everything else (version, checksums); this only turns the
 * common mistakes (wrong path, not an image at all) into one clear line.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { CliError } from './errors.js';

export const IMAGE_MAGIC = Buffer.from('CKPTIMG\0', 'latin1');

export function checkImageFile(path: string): void {
  let size: number;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new CliError(`${path} is a directory, not a context file`);
    size = st.size;
  } catch (err) {
    if (err instanceof CliError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError(`no such context file: ${path}`);
    throw new CliError(`cannot read ${path}: ${code}`);
  }
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new CliError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code}`);
  }
  const head = Buffer.alloc(IMAGE_MAGIC.length);
  try {
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (size < IMAGE_MAGIC.length || !head.equals(IMAGE_MAGIC)) {
    throw new CliError(`${path} is not a ckpt context file (no CKPTIMG magic at its start)`);
  }
}
