import { readFileSync } from 'node:fs';
import { config, safeParse } from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import type { core } from 'zod';

// The sidecar bundle validates with zod/mini (tree-shaken; zod's classic API cost an egress process
// ~3 MB at start-up, docs/performance.md); mini ships no messages until a locale is configured.
config(en());

/**
 * Read a JSON file and validate it at the boundary. Errors name the file and
 * each bad field (`what` says what the file is, e.g. "sidecar config").
 */
export function readJsonFile<T extends core.$ZodType>(file: string, schema: T, what: string): core.output<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new Error(`${what} ${file}: cannot read JSON: ${reason}`, { cause: err });
  }
  const parsed = safeParse(schema, raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`${what} ${file} is invalid:\n  ${issues.join('\n  ')}`);
  }
  return parsed.data;
}
