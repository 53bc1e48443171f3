/**
 * Globs over job ids, event types and node names: `*` any run of characters (dots too),
 * `?` one character, `[abc]`, `[a-z]`, `[!abc]` one character of (not of) a set.
 * Everything else is literal and must be a letter, digit, '_', '-' or '.'.
 */

export const GLOB_FORM =
  "a glob of letters, digits, '_', '-', '.', with * (any run), ? (one character), [a-z] or [!a-z]";

const LITERAL = /[A-Za-z0-9_.-]/;

/** Why `pattern` is not a glob, or undefined when it is one. */
export function globProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'empty glob';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' || c === '?' || LITERAL.test(c)) continue;
    if (c === '[') {
      const close = pattern.indexOf(']', i + 1);
      if (close < 0) return `unclosed '[' at position ${i + 1}`;
      let body = pattern.slice(i + 1, close);
      if (body.startsWith('!')) body = body.slice(1);
      if (body.length === 0) return `empty character set at position ${i + 1}`;
      for (let j = 0; j < body.length; j++) {
        const d = body[j]!;
        if (d === '-' && j > 0 && j < body.length - 1) {
          if (body[j - 1]! > body[j + 1]!) return `reversed range ${body.slice(j - 1, j + 2)}`;
          continue;
        }
        if (!LITERAL.test(d)) return `character ${JSON.stringify(d)} in a character set`;
      }
      i = close;
      continue;
    }
    return `character ${JSON.stringify(c)} at position ${i + 1}`;
  }
  return undefined;
}

/** Compile a valid glob (see globProblem) to an anchored RegExp. */
export function compileGlob(pattern: string): RegExp {
  const problem = globProblem(pattern);
  if (problem !== undefined) throw new TypeError(`bad glob ${JSON.stringify(pattern)}: ${problem}`);
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 1);
      let body = pattern.slice(i + 1, close);
      const negate = body.startsWith('!');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else re += c.replace(/[.]/g, '\\.');
  }
  return new RegExp(`^${re}$`);
}

/** A predicate for a glob; '*' is the fast path. */
export function globMatcher(pattern: string): (s: string) => boolean {
  if (pattern === '*') return () => true;
  const re = compileGlob(pattern);
  return (s) => re.test(s);
}
