import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { BottlePlan } from '../../plan/types.js';
import { isSlug } from '../../plan/slug.js';
import { readMetadata, writeMetadata, type BottleSnapshot } from '../../state/metadata.js';
import { docker, DockerError } from './cli.js';
import { agentImageSource, ensureAgentImage, type Image, type ImageOptions } from './images.js';
import { commitAgent, snapshotImage, snapshotRef } from './lifecycle.js';
import { SLUG_LABEL } from './names.js';
import type { BottleResources } from './resources.js';

/**
 * `bot-bottle commit` and what `resume` does with it: the agent container is
 * committed to one image per bottle, recorded (tag and id) in the bottle's
 * metadata, and the next resume boots the agent from it. The engine's images
 * are shared by every $BOT_BOTTLE_HOME, so each snapshot also carries a
 * label naming its home (a hash of the path), and `cleanup` removes only the
 * snapshots of its own home's deleted bottles.
 */
export const HOME_LABEL = 'bot-bottle.home';
const SNAPSHOT_LABEL = `${SLUG_LABEL}.snapshot`;

export function homeTag(home: string): string {
  return createHash('sha256').update(resolve(home)).digest('hex').slice(0, 16);
}

/**
 * Which image this bottle's agent boots from: its commit snapshot when the
 * plan carries one (docker `resume` of a committed bottle), else the image
 * cascade (override Dockerfile → `agent_provider.dockerfile` → provider
 * default), built if needed. The one place that decides it.
 */
export async function agentImageFor(
  plan: Pick<BottlePlan, 'slug' | 'stateDir' | 'provider'>,
  opts: ImageOptions & { log?: (message: string) => void } = {},
): Promise<Image> {
  const snapshot = plan.provider.snapshot;
  if (snapshot !== undefined) {
    if (snapshot.image !== snapshotRef(plan.slug)) throw new DockerError(`the recorded snapshot "${snapshot.image}" is not ${plan.slug}'s (${snapshotRef(plan.slug)}): refusing to boot the agent from it`);
    const id = await snapshotImage(plan.slug);
    if (id === snapshot.id) return { id, ref: snapshot.image, built: false };
    if (id !== undefined) {
      throw new DockerError(
        `${snapshot.image} is no longer the image \`bot-bottle commit\` made of ${plan.slug} (recorded ${snapshot.id.slice(0, 19)}, now ${id.slice(0, 19)}): refusing to boot the agent from it. Commit the running bottle again, or delete "snapshot" from ${join(plan.stateDir, 'metadata.json')} to boot from the ${plan.provider.template} image`,
      );
    }
    opts.log?.(`bot-bottle: ${plan.slug}'s snapshot ${snapshot.image} is gone from the engine: the agent boots from the ${plan.provider.template} image (what it installed in its home since is lost; the workspace is kept)`);
  }
  return ensureAgentImage(agentImageSource(plan), opts);
}

/** Commit a running bottle's agent and record it in the bottle's metadata, so `resume` boots from it. */
export async function commitBottle(slug: string, home: string, resources?: BottleResources): Promise<BottleSnapshot> {
  const { ref, id } = await commitAgent(slug, resources, { [HOME_LABEL]: homeTag(home) });
  if (!/^sha256:[0-9a-f]{64}$/.test(id)) throw new DockerError(`docker commit answered "${id.slice(0, 80)}", not an image id`);
  const snapshot: BottleSnapshot = { image: ref, id, committed_at: new Date().toISOString() };
  await writeMetadata(home, { ...readMetadata(home, slug), snapshot });
  return snapshot;
}

/** The snapshots this home's bottles were committed to, by slug (labels are read back as untrusted). */
export async function homeSnapshots(home: string): Promise<Array<{ slug: string; ref: string; id: string }>> {
  const ids = (await docker(['image', 'ls', '--quiet', '--no-trunc', '--filter', `label=${HOME_LABEL}=${homeTag(home)}`])).split('\n').filter((id) => /^sha256:[0-9a-f]{64}$/.test(id));
  if (ids.length === 0) return [];
  const out = await docker(['image', 'inspect', '--format', `{{.Id}}\t{{index .Config.Labels "${SNAPSHOT_LABEL}"}}\t{{range .RepoTags}}{{.}} {{end}}`, ...new Set(ids)]);
  const found: Array<{ slug: string; ref: string; id: string }> = [];
  for (const line of out.split('\n')) {
    const [id, slug, tags] = line.split('\t');
    if (id === undefined || slug === undefined || !isSlug(slug) || !(tags ?? '').split(' ').includes(snapshotRef(slug))) continue;
    found.push({ slug, ref: snapshotRef(slug), id });
  }
  return found;
}
