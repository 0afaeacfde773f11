import { appendFileSync, constants, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { docker } from '../docker/cli.js';
import { labelArgs } from '../docker/names.js';
import { removeNetwork, type BottleNetwork } from '../docker/network.js';
import type { BundleAddressing } from './addressing.js';
import { readEgressEvents, type MachineDeps } from './machine.js';
import { bundleNetworkName } from './plan.js';

/**
 * The per-bottle network the bundle alone sits on, with the subnet the plan
 * chose: the bundle is pinned at its address, which is the guest's one
 * allowed /32. `--internal`: nothing on it routes anywhere (the bundle's
 * way out is its egress network). Labelled like the docker backend's
 * internal network, so `cleanup` finds it by the slug label.
 */
export async function createBundleNetwork(slug: string, addressing: BundleAddressing): Promise<BottleNetwork> {
  const name = bundleNetworkName(slug);
  await docker(['network', 'create', '--driver', 'bridge', '--internal', '--subnet', addressing.subnet, '--gateway', addressing.gateway, ...labelArgs(slug, 'internal'), name]);
  return { name, created: true, undo: () => removeNetwork(name) };
}

/** Where a bottle's refused guest connections (smolvm's egress-events) are kept, beside the bundle's egress audit. */
export const GUEST_EGRESS_LOG = 'smolvm-egress-events.jsonl';

/**
 * smolvm's own record of the connections the guest's allow-list refused,
 * appended to the bottle's state at teardown (one JSON line per event, with
 * the machine's name): what the bundle's audit cannot see, since those
 * connections never reached it.
 */
export async function recordEgressEvents(deps: MachineDeps, name: string, stateDir: string): Promise<number> {
  const events = await readEgressEvents(deps.run, name);
  if (events.length === 0) return 0;
  const file = join(stateDir, GUEST_EGRESS_LOG);
  // The state folder is the agent's too: never write through a link planted there.
  closeSync(openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600));
  appendFileSync(file, events.map((e) => `${JSON.stringify({ source: 'smolvm', machine: name, at: e.timestamp, operation: e.operation, dest: e.dest })}\n`).join(''), { flag: 'a' });
  return events.length;
}
