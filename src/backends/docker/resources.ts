import { isSlug } from '../../plan/slug.js';
import { isStandbyId } from './standby-id.js';
import { docker } from './cli.js';
import { removeContainer } from './containers.js';
import { listFirewallRules, removeFirewallRule, type FirewallRule } from './firewall.js';
import { removeNetwork } from './network.js';
import { ROLE_LABEL, SLUG_LABEL } from './names.js';

/**
 * Everything the docker backend made for bottles, found by the slug label
 * (containers, networks) and by the slug comment (firewall rules), never by
 * guessing names. `cleanup` removes the resources of bottles that are not
 * running; a launch that died without its teardown leaves exactly these.
 */
export interface BottleResources {
  slug: string;
  containers: Array<{ id: string; name: string; role: string; running: boolean }>;
  networks: Array<{ id: string; name: string; role: string }>;
  firewallRules: FirewallRule[];
}

function rows(out: string): string[][] {
  return out
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line) => line.split('\t'));
}

export async function listBottleResources(): Promise<Map<string, BottleResources>> {
  const bySlug = new Map<string, BottleResources>();
  const entry = (slug: string): BottleResources => {
    let found = bySlug.get(slug);
    if (found === undefined) {
      found = { slug, containers: [], networks: [], firewallRules: [] };
      bySlug.set(slug, found);
    }
    return found;
  };
  const label = (name: string): string => `{{.Label "${name}"}}`;
  const containers = await docker(['ps', '--all', '--no-trunc', '--filter', `label=${SLUG_LABEL}`, '--format', `{{.ID}}\t{{.Names}}\t${label(SLUG_LABEL)}\t${label(ROLE_LABEL)}\t{{.State}}`]);
  for (const [id, name, slug, role, state] of rows(containers)) {
    // Labels are whatever someone set: only a valid slug groups anything.
    if (id === undefined || name === undefined || slug === undefined || !isSlug(slug)) continue;
    entry(slug).containers.push({ id, name, role: role ?? '', running: state === 'running' });
  }
  const networks = await docker(['network', 'ls', '--no-trunc', '--filter', `label=${SLUG_LABEL}`, '--format', `{{.ID}}\t{{.Name}}\t${label(SLUG_LABEL)}\t${label(ROLE_LABEL)}`]);
  for (const [id, name, slug, role] of rows(networks)) {
    if (id === undefined || name === undefined || slug === undefined || !isSlug(slug)) continue;
    entry(slug).networks.push({ id, name, role: role ?? '' });
  }
  for (const rule of await listFirewallRules()) entry(rule.slug).firewallRules.push(rule);
  return mergeClaimedStandbys(bySlug);
}

/**
 * A claimed docker standby (standby.ts) keeps its own id on its resources (labels and rule comments cannot
 * change), but its bundle is renamed to the bottle's: by that name its resources are the bottle's. An
 * unclaimed one stays under its id (`isStandbyId`).
 */
function mergeClaimedStandbys(bySlug: Map<string, BottleResources>): Map<string, BottleResources> {
  for (const [id, found] of [...bySlug]) {
    if (!isStandbyId(id)) continue;
    const owner = found.containers
      .filter((c) => c.role === 'sidecars')
      .map((c) => /^bot-bottle-(.+)-sidecars$/.exec(c.name)?.[1])
      .find((slug): slug is string => slug !== undefined && slug !== id && isSlug(slug) && !isStandbyId(slug));
    if (owner === undefined) continue;
    const into = bySlug.get(owner) ?? { slug: owner, containers: [], networks: [], firewallRules: [] };
    into.containers.push(...found.containers);
    into.networks.push(...found.networks);
    into.firewallRules.push(...found.firewallRules);
    bySlug.set(owner, into);
    bySlug.delete(id);
  }
  return bySlug;
}

/**
 * Remove one bottle's resources: containers first (a network in use cannot
 * go), then networks, then the firewall rules (last, so the internal bridge
 * is never open while anything of the bottle still runs). Every step is
 * tried; the failures are returned, one line each.
 */
export async function removeBottleResources(resources: BottleResources): Promise<string[]> {
  const failures: string[] = [];
  const attempt = async (what: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (error) {
      failures.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  // The agent's first: a claimed standby's network holder keeps the namespace the agent's container joined.
  const ordered = [...resources.containers].sort((a, b) => Number(b.role === 'agent') - Number(a.role === 'agent'));
  for (const c of ordered) await attempt(`container ${c.name}`, () => removeContainer(c.id));
  for (const n of resources.networks) await attempt(`network ${n.name}`, () => removeNetwork(n.id));
  for (const r of resources.firewallRules) await attempt(`${r.family} rule for ${r.bridge}`, () => removeFirewallRule(r));
  return failures;
}
