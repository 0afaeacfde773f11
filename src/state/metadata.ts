import { existsSync, readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { z } from 'zod';
import { isSlug } from './names.js';
import { assertNoLinks, readPlainFileSync } from '../util/safe-fs.js';
import { ANSI_COLORS, BACKEND_NAMES } from './names.js';
import { bottleStatePaths, homePaths } from './paths.js';
import type { MetadataStore } from './store/types.js';

// The state folder is read back by `resume`, `list` and `cleanup`: every value that becomes a
// path, a name or an argument is checked here, where it enters, and again where it is used.
const slugField = z.string().refine(isSlug, 'not a bottle name');
// eslint-disable-next-line no-control-regex
const nameField = z.string().regex(/^(?!\.\.?$)[^/\\\u0000-\u001f\u007f]{1,128}$/, 'not a manifest name');
// eslint-disable-next-line no-control-regex
const pathField = z.string().regex(/^[^\u0000-\u001f\u007f]+$/, 'holds control characters').refine(isAbsolute, 'not an absolute path');

/** A committed agent image: its one tag per bottle and the id it had when committed (a re-pointed tag is refused). */
export const SnapshotSchema = z.strictObject({
  image: z.string().regex(/^bot-bottle-snapshot-[a-z0-9][a-z0-9._-]{0,67}:latest$/, 'not a bot-bottle snapshot tag'),
  id: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'not an image id'),
  committed_at: z.string(),
});
export type BottleSnapshot = z.infer<typeof SnapshotSchema>;

/** What `resume` needs to relaunch a bottle; never any secret. */
export const MetadataSchema = z.strictObject({
  slug: slugField,
  agent: nameField,
  bottles: z.array(nameField),
  backend: z.enum(BACKEND_NAMES as [string, ...string[]]),
  cwd: pathField,
  copy_cwd: z.boolean(),
  label: slugField,
  color: z.enum(ANSI_COLORS),
  started_at: z.string(),
  /** When the bottle last stopped with its CLI alive to record it; `cleanup --state` ages bottles by it. */
  stopped_at: z.string().optional(),
  /** Started with `--rm`: a bottle whose CLI died before deleting it is deleted by `cleanup`. */
  remove_at_exit: z.boolean().optional(),
  /** The OCI runtime a docker bottle's containers ran under last (runsc: gVisor). */
  docker_runtime: z.enum(['runc', 'runsc']).optional(),
  /** docker: the image `bot-bottle commit` made of the agent container; `resume` boots from it. */
  snapshot: SnapshotSchema.optional(),
});
export type BottleMetadata = z.infer<typeof MetadataSchema>;

export async function writeMetadata(home: string, meta: BottleMetadata): Promise<string> {
  const paths = bottleStatePaths(meta.slug, home);
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  assertNoLinks(homePaths(home).stateRoot, paths.metadata);
  // Atomic: a crash mid-write must not leave a half file that breaks `resume`.
  await writeFileAtomic(paths.metadata, `${JSON.stringify(MetadataSchema.parse(meta), null, 2)}\n`, { mode: 0o600 });
  return paths.metadata;
}

export function readMetadata(home: string, slug: string): BottleMetadata {
  const file = bottleStatePaths(slug, home).metadata;
  let raw: unknown;
  try {
    assertNoLinks(homePaths(home).stateRoot, file);
    raw = JSON.parse(readPlainFileSync(file).toString('utf8'));
  } catch (err) {
    throw new Error(`no usable state for bottle "${slug}" (${file}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const parsed = MetadataSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${file} is damaged: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`);
  }
  if (parsed.data.slug !== slug) throw new Error(`${file} is damaged: it names bottle "${parsed.data.slug}", not "${slug}"`);
  return parsed.data;
}

/** Slugs with a state folder (whether or not the bottle is running). */
export function knownSlugs(home: string): string[] {
  const root = homePaths(home).stateRoot;
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    // A link or a stray name in the state root is not a bottle (and never followed).
    .filter((d) => d.isDirectory() && isSlug(d.name))
    .map((d) => d.name)
    .sort();
}

export function slugTaken(home: string, slug: string): boolean {
  return existsSync(bottleStatePaths(slug, home).dir);
}

/** The metadata store kept as files in the state folder (`<state>/<slug>/metadata.json`). */
export function fileMetadataStore(home: string): MetadataStore {
  return {
    read: (slug) => readMetadata(home, slug),
    write: async (meta) => {
      await writeMetadata(home, meta);
    },
    slugs: () => knownSlugs(home),
    taken: (slug) => slugTaken(home, slug),
  };
}
