import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import writeFileAtomic from 'write-file-atomic';
import { z } from 'zod';
import { ANSI_COLORS, BACKEND_NAMES } from '../plan/types.js';
import { bottleStatePaths, homePaths } from './paths.js';

/** What `resume` needs to relaunch a bottle; never any secret. */
export const MetadataSchema = z.strictObject({
  slug: z.string(),
  agent: z.string(),
  bottles: z.array(z.string()),
  backend: z.enum(BACKEND_NAMES as [string, ...string[]]),
  cwd: z.string(),
  copy_cwd: z.boolean(),
  label: z.string(),
  color: z.enum(ANSI_COLORS),
  started_at: z.string(),
});
export type BottleMetadata = z.infer<typeof MetadataSchema>;

export async function writeMetadata(home: string, meta: BottleMetadata): Promise<string> {
  const paths = bottleStatePaths(meta.slug, home);
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  // Atomic: a crash mid-write must not leave a half file that breaks `resume`.
  await writeFileAtomic(paths.metadata, `${JSON.stringify(MetadataSchema.parse(meta), null, 2)}\n`, { mode: 0o600 });
  return paths.metadata;
}

export function readMetadata(home: string, slug: string): BottleMetadata {
  const file = bottleStatePaths(slug, home).metadata;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`no usable state for bottle "${slug}" (${file}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const parsed = MetadataSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`${file} is damaged: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

/** Slugs with a state folder (whether or not the bottle is running). */
export function knownSlugs(home: string): string[] {
  const root = homePaths(home).stateRoot;
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

export function slugTaken(home: string, slug: string): boolean {
  return existsSync(bottleStatePaths(slug, home).dir);
}
