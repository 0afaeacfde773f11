import type { z } from 'zod';
import { controlProblem } from './control-chars.js';
import { ManifestError, formatKeyPath } from './errors.js';
import { locate, type FrontmatterFile } from './frontmatter.js';

/**
 * Run a zod schema over a parsed frontmatter document and turn the first
 * issue into a located ManifestError (file:line:col, key, fix).
 */
export function validateFrontmatter<T extends z.ZodType>(fm: FrontmatterFile, schema: T, what: string): z.infer<T> {
  let data: unknown;
  try {
    // Manifests never need many aliases; a small cap defeats alias bombs.
    data = fm.doc.toJS({ maxAliasCount: 10 }) ?? {};
  } catch (err) {
    throw new ManifestError({ file: fm.file }, `cannot read YAML: ${(err as Error).message}`, 'remove the YAML aliases (*name) from the frontmatter');
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ManifestError({ file: fm.file, line: 2 }, `${what} frontmatter must be a mapping of keys to values`);
  }
  rejectControlCharacters(fm, data, []);
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw new ManifestError({ file: fm.file }, `${what} is invalid`);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '?';
    const path = [...issue.path, key];
    const pos = locate(fm, path, true);
    const allowed = allowedKeys(schema, issue.path);
    throw new ManifestError(
      { file: fm.file, ...pos, key: formatKeyPath(path) },
      `unknown key "${key}"`,
      allowed.length > 0 ? `allowed keys here: ${allowed.join(', ')}` : 'remove it',
    );
  }
  const pos = locate(fm, issue.path);
  // A bad record key (an env or repo name) carries its reason one level down.
  const message = issue.code === 'invalid_key' ? (issue.issues[0]?.message ?? issue.message) : issue.message;
  throw new ManifestError({ file: fm.file, ...pos, key: formatKeyPath(issue.path) || '(top level)' }, message);
}

/**
 * YAML escapes ("\u0000", "\e") make control characters the raw-text check
 * cannot see. No key may hold one, and no value a NUL or any control but tab
 * and newline, whichever key it is under (even keys that are ignored);
 * single-line fields are stricter in the schema.
 */
function rejectControlCharacters(fm: FrontmatterFile, value: unknown, path: PropertyKey[]): void {
  const fail = (at: PropertyKey[], problem: string): never => {
    throw new ManifestError({ file: fm.file, ...locate(fm, at), key: formatKeyPath(at) || '(top level)' }, problem, 'remove the character');
  };
  if (typeof value === 'string') {
    const problem = controlProblem(value, 'text');
    if (problem) fail(path, problem);
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => rejectControlCharacters(fm, item, [...path, i]));
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      const problem = controlProblem(key, 'line');
      if (problem) fail(path, `a key ${problem}`);
      rejectControlCharacters(fm, item, [...path, key]);
    }
  }
}

/** The keys a strict object accepts at `path`, for "did you mean" style hints. */
function allowedKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let node: unknown = schema;
  for (const part of path) {
    node = unwrap(node);
    const def = (node as { def?: { type?: string; shape?: Record<string, unknown>; element?: unknown; valueType?: unknown } }).def;
    if (!def) return [];
    if (def.type === 'object' && def.shape && typeof part === 'string') node = def.shape[part];
    else if (def.type === 'array') node = def.element;
    else if (def.type === 'record') node = def.valueType;
    else return [];
  }
  const def = (unwrap(node) as { def?: { type?: string; shape?: Record<string, unknown> } }).def;
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

function unwrap(node: unknown): unknown {
  let current = node;
  for (let i = 0; i < 10; i++) {
    const def = (current as { def?: { type?: string; innerType?: unknown; in?: unknown } } | undefined)?.def;
    if (!def) return current;
    if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable') current = def.innerType;
    else if (def.type === 'pipe') current = def.in;
    else return current;
  }
  return current;
}
