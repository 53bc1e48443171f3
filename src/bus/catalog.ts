/**
 * The image catalog: a JetStream KV bucket (default `ckpt_catalog`) holding, per job, the
 * latest good image (ImageRecord), keyed `<node>.<job>`. Writes go through the outbox, so
 * they are kept in order with the results and survive a NATS outage; reads go straight to KV.
 */
import type { KV } from '@nats-io/kv';
import { type ImageRecord, isToken } from '../shared/types.js';
import { CatalogError, showValue } from './errors.js';
import type { Outbox } from './outbox.js';
import { TOKEN_EXPECTED } from './subjects.js';
import { check } from './validate.js';

export const DEFAULT_CATALOG_BUCKET = 'ckpt_catalog';

export interface Catalog {
  readonly bucket: string;
  /** Record (replace) the latest good image of record.node/record.job; resolves when stored. */
  put(record: ImageRecord): Promise<void>;
  /** The latest good image of a job, or undefined. */
  get(node: string, job: string): Promise<ImageRecord | undefined>;
  /** All records, or those of one node. */
  list(node?: string): Promise<ImageRecord[]>;
  /** Forget a job's entry (the image file itself is not touched); resolves when stored. */
  delete(node: string, job: string): Promise<void>;
}

function checkToken(what: string, value: unknown): asserts value is string {
  if (!isToken(value)) {
    throw new CatalogError(
      'BAD_TOKEN',
      `${what}: got ${showValue(value)}; expected ${TOKEN_EXPECTED}`,
    );
  }
}

/** The KV key of a job's entry: `<node>.<job>` (both subject-safe tokens). */
export function catalogKey(node: string, job: string): string {
  checkToken('node', node);
  checkToken('job', job);
  return `${node}.${job}`;
}

/** `kv` is a getter: the bus re-opens the bucket if a server comes back without it. */
export function createCatalog(kv: () => KV, bucket: string, outbox: Outbox): Catalog {
  const subject = (key: string) => `$KV.${bucket}.${key}`;
  const decode = (key: string, value: Uint8Array): ImageRecord => {
    let record: unknown;
    try {
      record = JSON.parse(new TextDecoder().decode(value));
    } catch (err) {
      throw new CatalogError('BAD_RECORD', `catalog entry ${key} is not JSON`, { cause: err });
    }
    const invalid = check('image-record', record);
    if (invalid) {
      throw new CatalogError('BAD_RECORD', `catalog entry ${key}: ${invalid.message}`, {
        cause: invalid,
      });
    }
    return record as ImageRecord;
  };
  const kvCall = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof CatalogError) throw err;
      throw new CatalogError('KV', `catalog ${what} failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
  };

  return {
    bucket,
    async put(record) {
      const invalid = check('image-record', record);
      if (invalid) {
        throw new CatalogError('BAD_RECORD', `image record: ${invalid.message}`, {
          cause: invalid,
        });
      }
      const key = catalogKey(record.node, record.job);
      await outbox.enqueue(subject(key), JSON.stringify(record));
    },
    async get(node, job) {
      const key = catalogKey(node, job);
      const entry = await kvCall(`get ${key}`, () => kv().get(key));
      if (entry?.operation !== 'PUT') return undefined;
      return decode(key, entry.value);
    },
    async list(node) {
      if (node !== undefined) checkToken('node', node);
      const filter = node === undefined ? '>' : `${node}.*`;
      return kvCall('list', async () => {
        const out: ImageRecord[] = [];
        const keys: string[] = [];
        for await (const k of await kv().keys(filter)) keys.push(k);
        for (const key of keys.sort()) {
          const entry = await kv().get(key);
          if (entry?.operation === 'PUT') out.push(decode(key, entry.value));
        }
        return out;
      });
    },
    async delete(node, job) {
      const key = catalogKey(node, job);
      await outbox.enqueue(subject(key), '', undefined, { 'KV-Operation': 'DEL' });
    },
  };
}
