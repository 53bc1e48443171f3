/**
 * What a restart through the daemon requires of an image (docs/security.md, "Images"):
 *
 * - it lies inside the image directory once every symlink is resolved;
 * - it carries this daemon's signature: `<image>.sig` (0600, beside the image), a JSON
 *   manifest {version, node, job, name, bytes, crc32c, sha256, hmac} whose hmac is
 *   HMAC-SHA256, keyed by STATE-DIR/keys/image.key (32 random bytes, 0600 in a 0700
 *   directory), over the other fields; sha256 is the whole file's. An image edited after
 *   the daemon wrote it (even with every checksum recomputed), renamed, or signed for
 *   another job is refused;
 * - the catalog record it came through (or the job's own record) names the same size and
 *   crc32c as the signed manifest;
 * - every process in it has exactly the job owner's credentials as the daemon recorded them
 *   from /proc at attach (real, effective, saved and filesystem uid and gid; the
 *   supplementary groups), so the restart never gives more than the job had.
 *
 * Each refusal is an EngineError FORBIDDEN naming the image and what did not hold.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, lstatSync } from 'node:fs';
import {
  chmod,
  lstat,
  mkdir,
  readFile,
  realpath,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import type { ImageRecord } from '../shared/types.js';
import { EngineError } from './errors.js';

const KEY_BYTES = 32;
const MANIFEST_VERSION = 1;
const MAX_MANIFEST = 4096;

export interface Manifest {
  version: number;
  node: string;
  job: string;
  /** The image's file name (a signature copied beside another image does not fit it). */
  name: string;
  bytes: number;
  crc32c: number;
  sha256: string;
  hmac: string;
}

export interface Owner {
  uid: number;
  gid: number;
  groups?: number[];
}

export const sigPath = (image: string) => `${image}.sig`;

/**
 * Why `dir` may not hold the daemon's images, or undefined if it may: it must be a real
 * directory (not a symlink) of the daemon's own uid that nobody else may write. In a
 * directory of someone else's they could keep, replace or swap the daemon's images (and
 * signatures) between its checks and a restart.
 */
export function dirProblem(dir: string): string | undefined {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(dir);
  } catch (err) {
    return `${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  const me = process.geteuid?.() ?? 0;
  const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
  if (st.isSymbolicLink()) return `${dir} is a symbolic link: expected a directory of the daemon's`;
  if (!st.isDirectory()) return `${dir} is not a directory`;
  if (st.uid !== me) {
    return `${dir} is owned by uid ${st.uid} (mode ${mode}): expected a directory of the daemon's (uid ${me}) that others cannot write; move it away`;
  }
  if ((st.mode & 0o022) !== 0) {
    return `${dir} is writable by others (mode ${mode}): expected a directory only the daemon (uid ${me}) can write (chmod go-w, or another directory)`;
  }
  return undefined;
}

const forbid = (msg: string): never => {
  throw new EngineError('FORBIDDEN', msg);
};

async function sha256Of(file: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), bytes };
}

/** The signing key: made on first use (0600 in a 0700 directory), refused if not 32 bytes. */
export async function loadImageKey(stateDir: string): Promise<Buffer> {
  const dir = join(stateDir, 'keys');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const file = join(dir, 'image.key');
  try {
    const st = await lstat(file);
    if (!st.isFile()) throw new EngineError('STATE', `${file} is not a regular file`);
    const key = await readFile(file);
    if (key.length !== KEY_BYTES) {
      throw new EngineError(
        'STATE',
        `${file} holds ${key.length} bytes, expected a ${KEY_BYTES}-byte key: move it away to make a new one (images signed with it can then not be restarted through the daemon)`,
      );
    }
    if ((st.mode & 0o077) !== 0) await chmod(file, 0o600);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = randomBytes(KEY_BYTES);
  await writeFile(`${file}.tmp`, key, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
  return key;
}

export class ImageTrust {
  constructor(
    private readonly key: Buffer,
    private readonly imageDir: string,
  ) {}

  private mac(m: Omit<Manifest, 'hmac'>): string {
    const fields = [m.version, m.node, m.job, m.name, m.bytes, m.crc32c, m.sha256];
    return createHmac('sha256', this.key).update(JSON.stringify(fields)).digest('hex');
  }

  /** Write `<image>.sig` for an image this daemon just wrote. */
  async sign(
    image: string,
    what: { node: string; job: string; crc32c: number },
  ): Promise<Manifest> {
    const { sha256, bytes } = await sha256Of(image);
    const base = {
      version: MANIFEST_VERSION,
      node: what.node,
      job: what.job,
      name: basename(image),
      bytes,
      crc32c: what.crc32c >>> 0,
      sha256,
    };
    const m: Manifest = { ...base, hmac: this.mac(base) };
    const file = sigPath(image);
    await writeFile(`${file}.tmp`, `${JSON.stringify(m)}\n`, { mode: 0o600 });
    await rename(`${file}.tmp`, file);
    return m;
  }

  /** Remove an image's signature with it. */
  static async remove(image: string): Promise<void> {
    await rm(sigPath(image), { force: true });
  }

  /** The image's real path, if it lies inside the image directory; FORBIDDEN otherwise. */
  async inside(image: string): Promise<string> {
    const root = await realpath(this.imageDir).catch(() => this.imageDir);
    let real: string;
    try {
      real = await realpath(image);
    } catch (err) {
      throw new EngineError(
        'NO_IMAGE',
        `image ${image}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
    if (!real.startsWith(root + sep)) {
      forbid(
        `restart from ${image} refused: it is outside the image directory ${root}${real !== image ? ` (it resolves to ${real})` : ''}; the daemon restarts only images it wrote there`,
      );
    }
    const st = await stat(real);
    if (!st.isFile()) forbid(`restart from ${image} refused: not a regular file`);
    // the directories from the image directory down to the image are the daemon's alone
    for (let d = dirname(real); d.startsWith(root); d = dirname(d)) {
      const problem = dirProblem(d);
      if (problem) forbid(`restart from ${image} refused: ${problem}`);
      if (d === root) break;
    }
    return real;
  }

  /**
   * Check the signature of `image` (a real path inside the image directory) for job
   * `job` of `node`, and that `record` (when the image came through one) matches it.
   */
  async verify(
    image: string,
    job: { node: string; id: string },
    record?: Pick<ImageRecord, 'bytes' | 'crc32c' | 'path'>,
  ): Promise<Manifest> {
    const file = sigPath(image);
    let text: string;
    try {
      const st = await lstat(file);
      if (!st.isFile() || st.size > MAX_MANIFEST) forbid(`${file} is not a signature file`);
      text = await readFile(file, 'utf8');
    } catch (err) {
      if (err instanceof EngineError) throw err;
      return forbid(
        `restart from ${image} refused: it has no signature of this daemon (${file}: ${(err as NodeJS.ErrnoException).code}); only images the daemon wrote are restarted through it`,
      );
    }
    let m: Manifest;
    try {
      m = JSON.parse(text) as Manifest;
    } catch {
      return forbid(`restart from ${image} refused: ${file} is not a signature manifest (JSON)`);
    }
    const ok =
      m &&
      m.version === MANIFEST_VERSION &&
      typeof m.node === 'string' &&
      typeof m.job === 'string' &&
      typeof m.name === 'string' &&
      Number.isSafeInteger(m.bytes) &&
      Number.isSafeInteger(m.crc32c) &&
      typeof m.sha256 === 'string' &&
      /^[0-9a-f]{64}$/.test(m.hmac ?? '');
    if (!ok) forbid(`restart from ${image} refused: ${file} is not a version-1 signature manifest`);
    const want = Buffer.from(this.mac(m), 'hex');
    if (!timingSafeEqual(want, Buffer.from(m.hmac, 'hex'))) {
      forbid(
        `restart from ${image} refused: its signature does not verify with this daemon's key (the manifest was edited or made elsewhere)`,
      );
    }
    if (m.name !== basename(image)) {
      forbid(`restart from ${image} refused: the signature beside it is for ${m.name}`);
    }
    if (m.node !== job.node || m.job !== job.id) {
      forbid(
        `restart of job ${job.id} from ${image} refused: the image was signed for job ${m.job} of node ${m.node}`,
      );
    }
    const { sha256, bytes } = await sha256Of(image);
    if (bytes !== m.bytes || sha256 !== m.sha256) {
      forbid(
        `restart from ${image} refused: the image changed after the daemon signed it (${bytes} bytes, sha256 ${sha256.slice(0, 16)}...; signed: ${m.bytes} bytes, ${m.sha256.slice(0, 16)}...), whatever its own checksums say`,
      );
    }
    if (record && (record.bytes !== m.bytes || record.crc32c >>> 0 !== m.crc32c)) {
      forbid(
        `restart from ${image} refused: its catalog record (${record.bytes} bytes, crc32c ${record.crc32c >>> 0}) does not match the image the daemon wrote (${m.bytes} bytes, crc32c ${m.crc32c})`,
      );
    }
    return m;
  }

  /** Every process of the image (inspect's JSON) has exactly the owner's credentials. */
  static checkCreds(image: string, inspected: Record<string, unknown>, owner: Owner): void {
    const procs = inspected.processes;
    if (!Array.isArray(procs) || procs.length === 0) {
      forbid(`restart from ${image} refused: the image describes no process`);
    }
    const wantGroups = owner.groups ? [...new Set(owner.groups)].sort((a, b) => a - b) : undefined;
    for (const p of procs as Array<Record<string, unknown>>) {
      const c = p.creds as { uids?: unknown; gids?: unknown; groups?: unknown } | undefined;
      const uids = Array.isArray(c?.uids) ? (c.uids as number[]) : [];
      const gids = Array.isArray(c?.gids) ? (c.gids as number[]) : [];
      const groups = Array.isArray(c?.groups)
        ? [...new Set(c.groups as number[])].sort((a, b) => a - b)
        : undefined;
      const who = `process ${String(p.pid)}`;
      if (uids.length !== 4 || gids.length !== 4 || groups === undefined) {
        forbid(`restart from ${image} refused: ${who}'s credentials are not in the image`);
      }
      if (uids.some((u) => u !== owner.uid) || gids.some((g) => g !== owner.gid)) {
        forbid(
          `restart from ${image} refused: ${who} has uid ${uids.join('/')} gid ${gids.join('/')}, but the job's owner (recorded at attach) is uid ${owner.uid} gid ${owner.gid}; a restart never gives more than the job had`,
        );
      }
      if (wantGroups === undefined) {
        forbid(
          `restart from ${image} refused: the job's supplementary groups were not recorded at attach (attached by an older daemon): attach it again`,
        );
      }
      if (
        (groups as number[]).length !== (wantGroups as number[]).length ||
        (groups as number[]).some((g, i) => g !== (wantGroups as number[])[i])
      ) {
        forbid(
          `restart from ${image} refused: ${who} has groups [${(groups as number[]).join(',')}], but the job's owner had [${(wantGroups as number[]).join(',')}] at attach`,
        );
      }
    }
  }
}
