import { readFileSync } from 'node:fs';
import type { z } from 'zod';

/**
 * Read a JSON file and validate it at the boundary. Errors name the file and
 * each bad field (`what` says what the file is, e.g. "sidecar config").
 */
export function readJsonFile<T extends z.ZodType>(file: string, schema: T, what: string): z.infer<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new Error(`${what} ${file}: cannot read JSON: ${reason}`, { cause: err });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`${what} ${file} is invalid:\n  ${issues.join('\n  ')}`);
  }
  return parsed.data;
}
