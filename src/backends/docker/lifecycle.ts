import { assertSlug } from '../../plan/slug.js';
import { docker, isNoSuchObject } from './cli.js';
import { containerName, SLUG_LABEL } from './names.js';
import { listBottleResources, removeBottleResources, type BottleResources } from './resources.js';
import { isStandbyId } from './standby-id.js';

/**
 * `list`, `stop`, `cleanup`, `commit` and `resume` for docker bottles, all by
 * the slug label (resources.ts), never by guessing names.
 */

export interface DockerBottleState {
  slug: string;
  /** The agent container is running. */
  running: boolean;
  containers: Array<{ name: string; role: string; running: boolean }>;
  networks: number;
  firewallRules: number;
}

export async function listDockerBottles(): Promise<DockerBottleState[]> {
  const found = await listBottleResources();
  return [...found.values()]
    // An unclaimed standby is no bottle (standby.ts); a claimed one is listed under its bottle.
    .filter((r) => !isStandbyId(r.slug))
    .map((r) => ({
      slug: r.slug,
      running: r.containers.some((c) => c.role === 'agent' && c.running),
      containers: r.containers.map((c) => ({ name: c.name, role: c.role, running: c.running })),
      networks: r.networks.length,
      firewallRules: r.firewallRules.length,
    }))
    .sort((a, b) => a.slug.localeCompare(b.slug));
}

/**
 * Remove one bottle's containers, networks and firewall rule (the order in
 * resources.ts). What failed is returned, one line each; nothing found is
 * an empty report.
 */
export async function stopDockerBottle(slug: string): Promise<{ found: boolean; failures: string[] }> {
  const resources = (await listBottleResources()).get(assertSlug(slug));
  if (resources === undefined) return { found: false, failures: [] };
  return { found: true, failures: await removeBottleResources(resources) };
}

/**
 * Remove the resources of every bottle `isLive` says is not running (its CLI
 * is gone: a killed launch, a crash). Returns what was removed and what failed.
 */
export async function cleanupDockerOrphans(isLive: (slug: string) => boolean | Promise<boolean>): Promise<{ removed: string[]; failures: string[] }> {
  const removed: string[] = [];
  const failures: string[] = [];
  for (const resources of (await listBottleResources()).values()) {
    if (isStandbyId(resources.slug) || (await isLive(resources.slug))) continue;
    const failed = await removeBottleResources(resources);
    failures.push(...failed.map((f) => `${resources.slug}: ${f}`));
    if (failed.length === 0) removed.push(resources.slug);
  }
  return { removed, failures };
}

/** The image a bottle resumes from after `commit`: one per slug, replaced by the next commit. */
export function snapshotRef(slug: string): string {
  return `bot-bottle-snapshot-${assertSlug(slug)}:latest`;
}

/**
 * Snapshot a bottle's agent container (its home, what the agent installed)
 * into its snapshot image, which `resume` boots from. Bind mounts (the
 * workspace, persisted folders, the probe) are not part of it, and nothing
 * secret is in the container's files: the agent's environment lives only in
 * the processes `docker exec` started.
 */
export async function commitAgent(slug: string, resources?: BottleResources, labels: Record<string, string> = {}): Promise<{ ref: string; id: string }> {
  const ref = snapshotRef(slug);
  const agent = resources?.containers.find((c) => c.role === 'agent')?.id ?? containerName(slug, 'agent');
  const changes = Object.entries({ [`${SLUG_LABEL}.snapshot`]: assertSlug(slug), ...labels }).flatMap(([k, v]) => ['--change', `LABEL ${k}=${v}`]);
  const id = await docker(['commit', '--pause', ...changes, agent, ref]);
  return { ref, id };
}

/** The snapshot a resume boots from, when the bottle was committed. */
export async function snapshotImage(slug: string): Promise<string | undefined> {
  try {
    return await docker(['image', 'inspect', '--format', '{{.Id}}', snapshotRef(slug)]);
  } catch (error) {
    if (isNoSuchObject(error)) return undefined;
    throw error;
  }
}

export async function removeSnapshot(slug: string): Promise<void> {
  try {
    await docker(['image', 'rm', snapshotRef(slug)]);
  } catch (error) {
    if (!isNoSuchObject(error)) throw error;
  }
}
