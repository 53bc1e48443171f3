/**
 * What an attacker who can write an image does: set every process's uids and gids to 0 and
 * recompute every checksum the reader checks (the PROC section's tail, the section-order
 * checksum in END, END's own tail), so the image is valid by its own checksums
 * (native/include/ckpt_image.h; the same as native/tests/image_crafted_test.c's emit).
 */
import { readFileSync, writeFileSync } from 'node:fs';

const POLY = 0x82f63b78;
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(crc: number, buf: Uint8Array): number {
  let c = ~crc >>> 0;
  for (const b of buf) c = (TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

const SEC_PROC = 1;
const SEC_END = 0x7fffffff;
const SEC_HDR = 24; // type, flags, size (u64), pad, hdr_crc32c
const TAIL = 8; // crc32c, magic
const PROC_UID = 56; // uid, euid, suid, fsuid, gid, egid, sgid, fsgid

/**
 * Rewrite `path` in place: `edit` changes the payload of every section of `type`, whose
 * checksum is then recomputed, as is the section-order checksum in END. Returns the
 * number of sections edited.
 */
export function forgeSections(path: string, type: number, edit: (payload: Buffer) => void): number {
  const img = Buffer.from(readFileSync(path));
  let off = img.readUInt32LE(12); // header_size
  let order = 0;
  let count = 0;
  for (;;) {
    const t = img.readUInt32LE(off);
    const size = Number(img.readBigUInt64LE(off + 8));
    const pad = img.readUInt32LE(off + 16);
    const payload = off + SEC_HDR + pad;
    const tail = payload + size;
    if (t === SEC_END) {
      img.writeUInt32LE(order, payload + 16); // order_crc32c
      img.writeUInt32LE(crc32c(0, img.subarray(payload, payload + size)), tail);
      break;
    }
    if (t === type) {
      edit(img.subarray(payload, payload + size));
      img.writeUInt32LE(crc32c(0, img.subarray(payload, payload + size)), tail);
      count++;
    }
    order = crc32c(order, img.subarray(off, off + SEC_HDR));
    order = crc32c(order, img.subarray(tail, tail + TAIL));
    off = tail + TAIL;
  }
  writeFileSync(path, img);
  return count;
}

/** Rewrite `path` in place with uid/gid `id` in every PROC section; returns the count. */
export function forgeCreds(path: string, id = 0): number {
  return forgeSections(path, SEC_PROC, (p) => {
    for (let i = 0; i < 8; i++) p.writeUInt32LE(id, PROC_UID + 4 * i);
  });
}
