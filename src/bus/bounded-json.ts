/**
 * JSON from the bus, bounded before anything else looks at it: a byte limit, then a
 * nesting-depth limit found by one linear scan of the text (no recursion), then
 * JSON.parse. A body nested 100,000 levels deep used to reach the validator and the
 * error path (JSON.stringify of the value) and end in a RangeError with no reply.
 */
import { BusValidationError } from './errors.js';

/** Largest command or event body the daemon reads (bytes). */
export const MAX_JSON_BYTES = 64 * 1024;
/** Deepest nesting of objects and arrays a bus message may have. */
export const MAX_JSON_DEPTH = 32;

/**
 * The deepest nesting of `[`/`{` in `text`, counting only outside strings; stops early
 * (returning a value above `limit`) once `limit` is passed.
 */
export function jsonDepth(text: string, limit = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

export interface JsonBounds {
  maxBytes?: number;
  maxDepth?: number;
  /** What a syntax error says was expected (default: a JSON object). */
  expected?: string;
}

/**
 * Parse `text` (of `bytes` bytes on the wire) within the bounds; a BusValidationError
 * (BAD_REQUEST for size and depth, BAD_JSON for syntax) names what was wrong.
 */
export function parseBoundedJson(text: string, bytes: number, bounds: JsonBounds = {}): unknown {
  const maxBytes = bounds.maxBytes ?? MAX_JSON_BYTES;
  const maxDepth = bounds.maxDepth ?? MAX_JSON_DEPTH;
  if (bytes > maxBytes) {
    throw new BusValidationError(
      'BAD_REQUEST',
      '(body)',
      `${bytes} bytes`,
      `at most ${maxBytes} bytes`,
    );
  }
  const depth = jsonDepth(text, maxDepth);
  if (depth > maxDepth) {
    throw new BusValidationError(
      'BAD_REQUEST',
      '(body)',
      `nesting deeper than ${maxDepth} levels`,
      `JSON nested at most ${maxDepth} levels deep`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BusValidationError(
      'BAD_JSON',
      '(body)',
      text.length > 200 ? `${text.slice(0, 200)}...` : text,
      `${bounds.expected ?? 'a JSON object'} (${(err as Error).message})`,
      { cause: err },
    );
  }
}
