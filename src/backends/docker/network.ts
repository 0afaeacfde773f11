import { internalAddressing, type InternalAddressing } from './addressing.js';
import { docker, DockerError, isNoSuchObject } from './cli.js';
import { engineCall, engineSocket } from './engine.js';
import { assertSlug } from '../../plan/slug.js';
import { bridgeName, isDockerObjectName, labelArgs, networkName, ROLE_LABEL, SLUG_LABEL } from './names.js';

/**
 * A bottle's two networks. The internal one holds the agent and the bundle
 * (`--internal`: no route off the box; the host itself is closed by
 * firewall.ts); the egress one holds only the bundle and is its way out.
 * Both are labelled with the slug and have bridges named after it, so the
 * firewall rule can name the internal bridge and `cleanup` can find both.
 */
export interface BottleNetwork {
  name: string;
  /** The Linux bridge behind it (absent for an existing network we did not create). */
  bridge?: string;
  created: boolean;
  /** The internal network's pinned addresses (addressing.ts). */
  addressing?: InternalAddressing;
  /** Removes it if we created it; "already gone" counts as done. */
  undo: () => Promise<void>;
}

export const EGRESS_NETWORK_ENV = 'BOT_BOTTLE_DOCKER_EGRESS_NETWORK';

export async function createInternalNetwork(slug: string, env: Readonly<Record<string, string | undefined>> = process.env, labels: Record<string, string> = {}): Promise<BottleNetwork> {
  const name = networkName(slug, 'internal');
  const bridge = bridgeName(slug, 'internal');
  // Bounded: the slug's own /29 of the pool, or one of the next ones when another network holds it.
  for (let attempt = 0; ; attempt++) {
    const addressing = internalAddressing(slug, attempt, env);
    try {
      await createBridgeNetwork({ slug, role: 'internal', name, bridge, internal: true, subnet: addressing.subnet, gateway: addressing.gateway, labels });
      return { name, bridge, created: true, addressing, undo: () => removeNetwork(name) };
    } catch (error) {
      if (attempt >= 15 || !(error instanceof DockerError && /overlap/i.test(error.stderr))) throw error;
    }
  }
}

/**
 * The bundle's outside leg: a network of its own, or, with
 * BOT_BOTTLE_DOCKER_EGRESS_NETWORK=<name>, an existing network (one users
 * must route through, or where tests run their upstreams), which is left
 * as it was on teardown. Another bottle's internal network is refused: the
 * bundle would join that bottle's agent.
 */
export async function createEgressNetwork(slug: string, env: Readonly<Record<string, string | undefined>> = process.env, labels: Record<string, string> = {}): Promise<BottleNetwork> {
  const existing = env[EGRESS_NETWORK_ENV];
  if (existing !== undefined && existing !== '') {
    if (!isDockerObjectName(existing)) throw new DockerError(`${EGRESS_NETWORK_ENV}="${existing.replace(/[^\x20-\x7e]/g, '?').slice(0, 80)}" is not a docker network name`);
    let role: string;
    try {
      role = await docker(['network', 'inspect', '--format', `{{index .Labels "${ROLE_LABEL}"}}`, existing]);
    } catch (error) {
      if (isNoSuchObject(error)) throw new DockerError(`${EGRESS_NETWORK_ENV}=${existing}: no such docker network (create it, or unset ${EGRESS_NETWORK_ENV} to give each bottle its own)`);
      throw error;
    }
    if (role === 'internal') throw new DockerError(`${EGRESS_NETWORK_ENV}=${existing} is a bottle's internal network; the bundle must never join another bottle's agent`);
    return { name: existing, created: false, undo: () => Promise.resolve() };
  }
  const name = networkName(slug, 'egress');
  const bridge = bridgeName(slug, 'egress');
  await createBridgeNetwork({ slug, role: 'egress', name, bridge, internal: false, labels });
  return { name, bridge, created: true, undo: () => removeNetwork(name) };
}

/** `docker network create --driver bridge` with our bridge name and labels, over the Engine API where it is local (engine.ts). */
async function createBridgeNetwork(n: { slug: string; role: 'internal' | 'egress'; name: string; bridge: string; internal: boolean; subnet?: string; gateway?: string; labels: Record<string, string> }): Promise<void> {
  const socket = engineSocket();
  if (socket === undefined) {
    const ipam = n.subnet !== undefined && n.gateway !== undefined ? ['--subnet', n.subnet, '--gateway', n.gateway] : [];
    await docker(['network', 'create', '--driver', 'bridge', ...(n.internal ? ['--internal'] : []), ...ipam, '--opt', `com.docker.network.bridge.name=${n.bridge}`, ...labelArgs(n.slug, n.role), ...Object.entries(n.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]), n.name]);
    return;
  }
  await engineCall(socket, 'POST', '/networks/create', `docker network create ${n.name}`, {
    Name: n.name,
    CheckDuplicate: true,
    Driver: 'bridge',
    Internal: n.internal,
    Options: { 'com.docker.network.bridge.name': n.bridge },
    Labels: { ...n.labels, [SLUG_LABEL]: assertSlug(n.slug), [ROLE_LABEL]: n.role },
    ...(n.subnet !== undefined && n.gateway !== undefined ? { IPAM: { Driver: 'default', Config: [{ Subnet: n.subnet, Gateway: n.gateway }] } } : {}),
  });
}

export async function removeNetwork(name: string): Promise<void> {
  try {
    const socket = engineSocket();
    if (socket === undefined) await docker(['network', 'rm', name]);
    else await engineCall(socket, 'DELETE', `/networks/${encodeURIComponent(name)}`, `docker network rm ${name}`);
  } catch (error) {
    if (!isNoSuchObject(error)) throw error;
  }
}

/** The IPv4 gateways of a network: the host's own addresses on its bridge (what the containment self-test probes). */
export async function networkGateways(name: string): Promise<string[]> {
  const out = await docker(['network', 'inspect', '--format', '{{range .IPAM.Config}}{{.Gateway}} {{end}}', name]);
  return out.split(/\s+/).filter((g) => /^\d{1,3}(\.\d{1,3}){3}$/.test(g));
}
