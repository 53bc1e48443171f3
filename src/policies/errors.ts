/** Errors of the policy layer. Each names what was wrong and what is accepted. */

/** Render a value for an error message: short, unambiguous, JSON-like. */
export function showValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export interface PolicyFileErrorDetails {
  /** The file as given to loadPolicyFiles. */
  file: string;
  /** Key path of the bad value, e.g. policies[2].rules[0].severity; '' for the whole file. */
  keyPath: string;
  /** The bad value (undefined when the key is missing or the file unreadable). */
  value?: unknown;
  /** What was wrong, e.g. "unknown key" or "not a duration". */
  problem: string;
  /** The accepted form, e.g. "a duration: 10s, 5m, 1h or a number of milliseconds". */
  accepted: string;
  /** 1-based position of the bad value in the file, when known. */
  line?: number;
  column?: number;
  cause?: unknown;
}

/**
 * A policy file cannot be used. Message form:
 *   FILE[:LINE:COL]: KEYPATH: PROBLEM (got VALUE); expected ACCEPTED
 */
export class PolicyFileError extends Error {
  override name = 'PolicyFileError';
  readonly file: string;
  readonly keyPath: string;
  readonly value: unknown;
  readonly problem: string;
  readonly accepted: string;
  readonly line: number | undefined;
  readonly column: number | undefined;

  constructor(d: PolicyFileErrorDetails) {
    const where = d.line === undefined ? d.file : `${d.file}:${d.line}:${d.column ?? 1}`;
    const key = d.keyPath === '' ? '' : ` ${d.keyPath}:`;
    const got = 'value' in d && d.value !== undefined ? ` (got ${showValue(d.value)})` : '';
    super(`${where}:${key} ${d.problem}${got}; expected ${d.accepted}`, { cause: d.cause });
    this.file = d.file;
    this.keyPath = d.keyPath;
    this.value = d.value;
    this.problem = d.problem;
    this.accepted = d.accepted;
    this.line = d.line;
    this.column = d.column;
  }
}

/** One of the engine's input streams failed; `input` names it (health$, commands$, ...). */
export class PolicyInputError extends Error {
  override name = 'PolicyInputError';
  readonly input: string;
  constructor(input: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`policy input ${input} failed: ${why}`, { cause });
    this.input = input;
  }
}

/** createPolicyEngine was called with options it cannot use. */
export class PolicyEngineError extends Error {
  override name = 'PolicyEngineError';
}
