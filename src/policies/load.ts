/**
 * The one I/O point of the policy layer: read policy files (YAML: .yaml/.yml, JSON: .json),
 * parse them, validate them (validate.ts) and check the files together (unique names).
 * Every failure is a PolicyFileError naming the file, key path, bad value and accepted form.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { isNode, LineCounter, parseDocument } from 'yaml';
import { Checker, type KeyPath, type Locator } from './checker.js';
import { defaultPolicySet } from './defaults.js';
import { PolicyFileError } from './errors.js';
import type { Policy, PolicySet } from './types.js';
import { DOCUMENT_FORM, validatePolicyDocument } from './validate.js';

const EXTENSIONS = ['.yaml', '.yml', '.json'];

/**
 * Load and validate policy files, in order. No paths: the default set (defaultPolicySet()).
 * Synchronous: the daemon loads at start and on reload, the CLI for `ckpt policy check`.
 */
export function loadPolicyFiles(paths: string[]): PolicySet {
  if (paths.length === 0) return defaultPolicySet();
  const policies: Policy[] = [];
  const firstSeen = new Map<string, { file: string; index: number }>();
  for (const file of paths) {
    const own = loadPolicyFile(file);
    own.forEach((p, index) => {
      const prev = firstSeen.get(p.name);
      if (prev !== undefined)
        throw new PolicyFileError({
          file,
          keyPath: `policies[${index}].name`,
          value: p.name,
          problem: `duplicate policy name (also in ${prev.file} policies[${prev.index}])`,
          accepted: 'a name unique across all policy files',
        });
      firstSeen.set(p.name, { file, index });
      policies.push(p);
    });
  }
  return { policies, files: [...paths] };
}

/** The policies of one file. */
export function loadPolicyFile(file: string): Policy[] {
  const ext = extname(file).toLowerCase();
  if (!EXTENSIONS.includes(ext))
    throw new PolicyFileError({
      file,
      keyPath: '',
      problem: `unknown file type '${ext || '(no extension)'}'`,
      accepted: 'a .yaml, .yml or .json file',
    });
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PolicyFileError({
      file,
      keyPath: '',
      problem: `cannot read the file (${code ?? (err as Error).message})`,
      accepted: 'a readable policy file',
      cause: err,
    });
  }
  return parsePolicyText(text, file);
}

/** Parse and validate the text of a policy file; `file` names it in errors and decides the format. */
export function parsePolicyText(text: string, file: string): Policy[] {
  if (text.trim() === '')
    throw new PolicyFileError({
      file,
      keyPath: '',
      problem: 'the file is empty',
      accepted: DOCUMENT_FORM,
    });
  const isJson = extname(file).toLowerCase() === '.json';
  let data: unknown;
  if (isJson) {
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new PolicyFileError({
        file,
        keyPath: '',
        ...jsonPosition(text, err as Error),
        problem: `malformed JSON: ${(err as Error).message}`,
        accepted: `JSON holding ${DOCUMENT_FORM}`,
        cause: err,
      });
    }
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (!isJson) {
    const first = doc.errors[0];
    if (first !== undefined) {
      const pos = lines.linePos(first.pos[0]);
      throw new PolicyFileError({
        file,
        keyPath: '',
        line: pos.line,
        column: pos.col,
        problem: `malformed YAML: ${first.message.split('\n')[0]}`,
        accepted: `YAML holding ${DOCUMENT_FORM}`,
        cause: first,
      });
    }
    data = doc.toJS({ maxAliasCount: 100 });
  }
  const locate: Locator = (path: KeyPath) => {
    if (doc.errors.length > 0) return undefined;
    const node = path.length === 0 ? doc.contents : doc.getIn(path, true);
    if (!isNode(node) || node.range === undefined || node.range === null) return undefined;
    const pos = lines.linePos(node.range[0]);
    return { line: pos.line, column: pos.col };
  };
  return validatePolicyDocument(data, new Checker(file, locate));
}

/** Line and column of a JSON.parse error, when its message carries a position. */
function jsonPosition(text: string, err: Error): { line?: number; column?: number } {
  const m = /position (\d+)/.exec(err.message);
  if (m === null) return {};
  const offset = Number(m[1]);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}
