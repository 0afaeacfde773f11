import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { bootId, identify, signallablePid, signalProcess } from '../../state/process-identity.js';
import { join } from 'node:path';
import { ensureStandbyDir, standbyDir } from '../../launch/standby.js';
import { TeardownStack } from '../../launch/teardown.js';
import { homePaths } from '../../state/paths.js';
import { BUNDLE_NODE_FLAGS } from '../../sidecars/node-flags.js';
import { standbyIdleSeconds } from '../../sidecars/standby-idle.js';
import { trace } from '../../util/trace.js';
import { DockerError } from './cli.js';
import { DOCKER_POOL_ENV, internalAddressing } from './addressing.js';
import { createDockerBundle } from './bundle.js';
import { createContainer, removeContainer, startContainer } from './containers.js';
import { engineCall, engineFailure, engineRequest, engineSocket } from './engine.js';
import { assertLocalBridge, blockBridgeToHost, firewallRulesPresent, hostRules, removeFirewallRule } from './firewall.js';
import { BUNDLE_ALIAS, bridgeName, containerName, networkName, ROLE_LABEL, SLUG_LABEL, STANDBY_LABEL } from './names.js';
import { createEgressNetwork, createInternalNetwork, EGRESS_NETWORK_ENV, removeNetwork, type BottleNetwork } from './network.js';
import type { DockerRuntime } from './runtime.js';
import { isStandbyId, STANDBY_ID_PREFIX } from './standby-id.js';

export { isStandbyId } from './standby-id.js';

/**
 * Docker standbys: a sidecar bundle and its two networks (with the host rule
 * on the internal bridge) made and started before a launch asks, so a launch
 * only creates and starts its agent's container. The docker form of the host
 * standby bundles (launch/standby.ts); the design and its trade-offs are in
 * docs/design/docker-standby.md.
 *
 * A standby belongs to no bottle: its resources carry a standby id
 * (`bb-standby-<12 hex>`, a name no bottle can take) where a bottle's carry
 * its slug, and its bundle container carries the key of what it was made
 * for (`bot-bottle.standby=<key>`). It holds no secret and no bottle's file
 * until claimed: its bundle has warmed up and waits, up to its idle time, for
 * the first line on its stdin (nobody is attached until the claim). Its
 * binds are this home's state and queue roots, so a claimed bundle reaches
 * its bottle's state folder and queue at their host paths, as a bottle's own
 * bundle does; it also reaches the other bottles' of this home, which is what
 * the bwrap backend's bundle, a host process of the operator, reaches too.
 *
 * The claim is a file created with O_EXCL in the home's standby folder (two
 * launches of one home never both win), then the container is renamed to the
 * bottle's bundle name, which is how `list`, `stop` and `cleanup` find a
 * claimed standby's resources (resources.ts). From the claim on, the launch's
 * teardown removes them as it would its own.
 */


/** What a standby is made for: a launch takes one only when all of it matches its own. */
export interface StandbyShape {
  /** The sidecars image's id. */
  image: string;
  runtime: DockerRuntime;
  /** Host paths bound at the same path in the bundle (standbyBinds). */
  binds: Array<{ path: string; readOnly: boolean }>;
  /** The operator's environment: the egress network and the address pool are read from it. */
  hostEnv: Readonly<Record<string, string | undefined>>;
}

const KEY = /^[0-9a-f]{16}$/;

export function standbyKey(shape: StandbyShape): string {
  return createHash('sha256')
    .update(
      JSON.stringify({
        v: 1,
        image: shape.image,
        runtime: shape.runtime,
        binds: shape.binds,
        egress: shape.hostEnv[EGRESS_NETWORK_ENV] ?? '',
        pool: shape.hostEnv[DOCKER_POOL_ENV] ?? '',
        flags: BUNDLE_NODE_FLAGS,
      }),
    )
    .digest('hex')
    .slice(0, 16);
}

/** The binds of a standby bundle: this home's state and queue roots, and BOT_BOTTLE_UPSTREAM_CA's file (read-only). */
export function standbyBinds(home: string, upstreamCa: Array<{ path: string; readOnly: boolean }>): Array<{ path: string; readOnly: boolean }> {
  const { stateRoot, queueRoot } = homePaths(home);
  return [{ path: stateRoot, readOnly: false }, { path: queueRoot, readOnly: false }, ...upstreamCa];
}

function claimsDir(home: string): string {
  return join(standbyDir(home), 'docker-claims');
}

function expiriesDir(home: string): string {
  return join(standbyDir(home), 'docker-expiries');
}

/** Where standby `id`'s expiry (standby-helper.ts) runs: its identity, so only that process is ever signalled. */
export function recordExpiry(home: string, id: string, pid: number): void {
  const identity = identify(pid);
  if (identity === undefined || !isStandbyId(id) || !ensureStandbyDir(home)) return;
  mkdirSync(expiriesDir(home), { recursive: true, mode: 0o700 });
  writeFileSync(join(expiriesDir(home), id), JSON.stringify({ boot: bootId(), pid: identity.pid, start: identity.start }), { mode: 0o600, flag: 'w' });
}

/** End standby `id`'s expiry: a launch took it, or it was removed. A record that does not parse is removed unread. */
export function cancelExpiry(home: string, id: string): void {
  const file = join(expiriesDir(home), id);
  let text: string;
  try {
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return;
  }
  rmSync(file, { force: true });
  let record: { boot?: unknown; pid?: unknown; start?: unknown };
  try {
    record = JSON.parse(text.length < 200 ? text : '{}') as typeof record;
  } catch {
    return;
  }
  if (typeof record.boot !== 'string' || typeof record.pid !== 'number' || typeof record.start !== 'number' || !signallablePid(record.pid)) return;
  signalProcess({ pid: record.pid, start: record.start }, record.boot, 'SIGTERM');
}


/**
 * Make one standby for `shape` and start its bundle: the rule first (named by
 * the bridge, before the bridge exists), both networks, the bundle's
 * container on them, started. On failure everything made is removed.
 */
export function newStandbyId(): string {
  return `${STANDBY_ID_PREFIX}${randomBytes(6).toString('hex')}`;
}

export async function makeStandby(shape: StandbyShape, id = newStandbyId()): Promise<{ id: string; container: string }> {
  if (!isStandbyId(id)) throw new DockerError('a docker standby needs a standby id');
  const key = standbyKey(shape);
  const stack = new TeardownStack(() => undefined);
  try {
    const rule = await blockBridgeToHost(id, bridgeName(id, 'internal'), { beforeBridgeExists: true });
    stack.defer('remove host firewall rule', rule.undo);
    const labels = { [STANDBY_LABEL]: key };
    const [internal, egress] = await Promise.all([
      createInternalNetwork(id, shape.hostEnv, labels).then((n) => (stack.defer('remove internal network', n.undo), n)),
      createEgressNetwork(id, shape.hostEnv, labels).then((n) => (stack.defer('remove egress network', n.undo), n)),
    ]);
    if (internal.bridge === undefined) throw new DockerError(`the standby's internal network ${internal.name} has no bridge`);
    assertLocalBridge(internal.bridge);
    const addressing = internal.addressing;
    if (addressing === undefined) throw new DockerError(`the standby's internal network ${internal.name} has no pinned addresses`);
    const [container, netns] = await Promise.all([
      createDockerBundle({ slug: id, image: shape.image, runtime: shape.runtime, internal, egress, binds: shape.binds, teardown: stack, standby: { key, idleS: standbyIdleSeconds(shape.hostEnv.BOT_BOTTLE_STANDBY_IDLE_S) } }),
      // The agent's network namespace, made ahead: on the internal network at the agent's address, with the
      // bundle's alias in its /etc/hosts. It runs nothing but `sleep`, as nobody, with nothing writable.
      createContainer({
        slug: id,
        role: 'netns',
        name: containerName(id, 'netns'),
        image: shape.image,
        network: internal.name,
        ip: addressing.agent,
        extraHosts: [`${BUNDLE_ALIAS}:${addressing.bundle}`],
        hostname: 'bottle',
        runtime: 'runc',
        user: '65534:65534',
        readOnlyRoot: true,
        pidsLimit: 8,
        labels: { [STANDBY_LABEL]: key },
        command: ['sleep', 'infinity'],
      }).then((c) => (stack.defer('remove network holder', c.undo), c)),
    ]);
    await Promise.all([startContainer(container.id), startContainer(netns.id)]);
    return { id, container: container.id };
  } catch (error) {
    await stack.unwind();
    throw error;
  }
}

/**
 * Remove standby `id` if nobody took it: its expiry takes the claim file as a launch would, so a launch and
 * the expiry never both have it. Returns whether it was removed.
 */
export async function expireStandby(home: string, id: string): Promise<boolean> {
  if (!isStandbyId(id) || (await renamedByLaunch(id))) return false;
  // Its home is gone (a deleted test home, say): no launch can take it, and nothing is made in its place.
  if (!existsSync(standbyDir(home))) {
    await removeStandby(id);
    return true;
  }
  if (!ensureStandbyDir(home)) return false;
  const dir = claimsDir(home);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(join(dir, id), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600));
  } catch {
    return false; // a launch took it: it is that bottle's now
  }
  try {
    rmSync(join(expiriesDir(home), id), { force: true }); // this is the expiry: nothing to signal
    if (await renamedByLaunch(id)) return false;
    await removeStandby(id);
    return true;
  } finally {
    rmSync(join(dir, id), { force: true });
  }
}

/** Whether a launch took standby `id`: its bundle carries a bottle's name now. */
async function renamedByLaunch(id: string): Promise<boolean> {
  const socket = engineSocket();
  return socket !== undefined && takenIn(await listStandbys(socket, undefined, 'all'), id);
}

/** Whether, in `listed`, standby `id`'s bundle carries a bottle's name (a launch took it). */
function takenIn(listed: readonly ListedContainer[], id: string): boolean {
  return listed.some((c) => c.Labels?.[SLUG_LABEL] === id && c.Labels[ROLE_LABEL] === 'sidecars' && unclaimedId(c) === undefined);
}

/** A standby a launch took: its resources are the launch's from now on (on its teardown stack). */
export interface ClaimedStandby {
  id: string;
  /** The bundle's container, renamed to the bottle's bundle name once `verified`. */
  container: { id: string; name: string };
  /** The container holding the agent's network namespace: the agent's container joins it. */
  netns: string;
  /**
   * Resolves once the standby is renamed to the bottle's and its host rule and bridge are checked; rejects
   * if not. Nothing of the bottle may run on its networks before.
   */
  verified: Promise<void>;
  internal: BottleNetwork;
  egress: BottleNetwork;
}

interface ListedContainer {
  Id?: unknown;
  Names?: unknown;
  Image?: unknown;
  ImageID?: unknown;
  Labels?: Record<string, unknown>;
  Mounts?: Array<{ Type?: unknown; Source?: unknown; Destination?: unknown; RW?: unknown }>;
  NetworkSettings?: { Networks?: Record<string, { IPAddress?: unknown; Gateway?: unknown }> };
}

/** Standby containers made for `key` (every key when undefined). */
async function listStandbys(socket: string, key: string | undefined, status: 'running' | 'all'): Promise<ListedContainer[]> {
  const label = key === undefined ? STANDBY_LABEL : `${STANDBY_LABEL}=${key}`;
  const filters = JSON.stringify({ label: [label], ...(status === 'running' ? { status: ['running'] } : {}) });
  const listed = await engineCall(socket, 'GET', `/containers/json?all=${status === 'all' ? 1 : 0}&filters=${encodeURIComponent(filters)}`, `docker ps --filter label=${label}`);
  return Array.isArray(listed) ? (listed as ListedContainer[]) : [];
}

/** The standby id of an unclaimed standby's container (named after its id: its bundle, its holder), else undefined. */
function unclaimedId(c: ListedContainer, role: 'sidecars' | 'netns' = 'sidecars'): string | undefined {
  const id = c.Labels?.[SLUG_LABEL];
  if (typeof id !== 'string' || !isStandbyId(id)) return undefined;
  return Array.isArray(c.Names) && c.Names.includes(`/${containerName(id, role)}`) ? id : undefined;
}

/**
 * Take a running standby made for `shape`, for the bottle `slug`. Resolves
 * undefined when there is none (the launch then makes its own, as without
 * standbys). Once claimed, a standby that is not exactly what this launch
 * would have made (its networks, its binds, its host rule) fails the launch,
 * and its removal is already on `teardown`.
 */
export async function claimStandby(home: string, slug: string, shape: StandbyShape, teardown: TeardownStack): Promise<ClaimedStandby | undefined> {
  const socket = engineSocket();
  if (socket === undefined || !ensureStandbyDir(home)) return undefined;
  const key = standbyKey(shape);
  const dir = claimsDir(home);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const running = await listStandbys(socket, key, 'running');
  for (const c of running) {
    const id = unclaimedId(c);
    if (id === undefined || typeof c.Id !== 'string' || !/^[0-9a-f]{64}$/.test(c.Id)) continue;
    const netns = running.find((n) => unclaimedId(n, 'netns') === id);
    if (netns === undefined || typeof netns.Id !== 'string' || !/^[0-9a-f]{64}$/.test(netns.Id)) continue;
    let fd: number;
    try {
      fd = openSync(join(dir, id), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    } catch {
      continue; // another launch of this home took it
    }
    try {
      writeSync(fd, `${slug}\n`);
    } finally {
      closeSync(fd);
    }
    trace(`docker standby ${id} claimed`);
    cancelExpiry(home, id);
    return adopt(socket, home, slug, id, { bundle: c, netns }, shape, teardown);
  }
  return undefined;
}

function adopt(socket: string, home: string, slug: string, id: string, found: { bundle: ListedContainer; netns: ListedContainer }, shape: StandbyShape, teardown: TeardownStack): ClaimedStandby {
  const c = found.bundle;
  const containerId = String(c.Id);
  const netnsId = String(found.netns.Id);
  const internalName = networkName(id, 'internal');
  const bridge = bridgeName(id, 'internal');
  const ownEgress = shape.hostEnv[EGRESS_NETWORK_ENV] === undefined || shape.hostEnv[EGRESS_NETWORK_ENV] === '';
  const egressName = ownEgress ? networkName(id, 'egress') : (shape.hostEnv[EGRESS_NETWORK_ENV] as string);
  // Registered in the order a bottle's own are, so they unwind in reverse: the container, the networks, then
  // the rule (the bridge is never open to the host while anything of the standby runs), then the claim file.
  teardown.defer('release the docker standby claim', () => rmSync(join(claimsDir(home), id), { force: true }));
  teardown.defer('remove host firewall rule', async () => {
    for (const rule of hostRules(id, bridge)) await removeFirewallRule(rule);
  });
  if (ownEgress) teardown.defer('remove egress network', () => removeNetwork(egressName));
  teardown.defer('remove internal network', () => removeNetwork(internalName));
  // After the agent's container (registered later, so removed first), whose network namespace it holds.
  teardown.defer('remove network holder', () => removeContainer(netnsId));
  teardown.defer('remove bundle container', () => removeContainer(containerId));
  const name = containerName(slug, 'sidecars');

  const networks = c.NetworkSettings?.Networks ?? {};
  const names = Object.keys(networks).sort();
  if (names.length !== 2 || !names.includes(internalName) || !names.includes(egressName)) {
    throw new DockerError(`the docker standby ${id} is on the networks ${names.join(', ') || '(none)'}, not ${internalName} and ${egressName}: refusing it`);
  }
  const mounts = (c.Mounts ?? []).map((m) => `${String(m.Source)}>${String(m.Destination)}:${m.RW === true ? 'rw' : 'ro'}`).sort();
  const expected = shape.binds.map((b) => `${b.path}>${b.path}:${b.readOnly ? 'ro' : 'rw'}`).sort();
  if (JSON.stringify(mounts) !== JSON.stringify(expected)) throw new DockerError(`the docker standby ${id} binds ${mounts.join(', ') || 'nothing'}, not ${expected.join(', ')}: refusing it`);
  const addressing = standbyAddressing(id, networks[internalName], shape.hostEnv);
  const holderNetworks = found.netns.NetworkSettings?.Networks ?? {};
  if (Object.keys(holderNetworks).join() !== internalName || holderNetworks[internalName]?.IPAddress !== addressing.agent) {
    throw new DockerError(`the docker standby ${id}'s network holder is not on ${internalName} at ${addressing.agent} alone: refusing it`);
  }
  if ((found.netns.Mounts ?? []).length > 0) throw new DockerError(`the docker standby ${id}'s network holder binds host files: refusing it`);
  assertLocalBridge(bridge);
  // Checked while the launch creates its agent's container on the standby's network (it starts only after).
  const verified = (async (): Promise<void> => {
    const [renamed, ruled] = await Promise.all([
      engineRequest(socket, 'POST', `/containers/${containerId}/rename?name=${encodeURIComponent(name)}`, `docker rename ${containerName(id, 'sidecars')} ${name}`),
      firewallRulesPresent(id, bridge),
    ]);
    if (renamed.status !== 204) throw engineFailure(`docker rename ${containerName(id, 'sidecars')} ${name}`, renamed);
    if (!ruled) throw new DockerError(`the host firewall rule that keeps ${bridge} off the host is missing for the docker standby ${id}: refusing it`);
  })();
  void verified.catch(() => undefined); // the launch awaits it
  return {
    id,
    verified,
    container: { id: containerId, name },
    netns: netnsId,
    internal: { name: internalName, bridge, created: true, addressing, undo: () => removeNetwork(internalName) },
    egress: { name: egressName, ...(ownEgress ? { bridge: bridgeName(id, 'egress') } : {}), created: ownEgress, undo: () => (ownEgress ? removeNetwork(egressName) : Promise.resolve()) },
  };
}

/** The standby's internal addresses, checked against the /29s its id can have (addressing.ts). */
function standbyAddressing(id: string, endpoint: { IPAddress?: unknown; Gateway?: unknown } | undefined, env: Readonly<Record<string, string | undefined>>): ReturnType<typeof internalAddressing> {
  for (let attempt = 0; attempt <= 15; attempt++) {
    const candidate = internalAddressing(id, attempt, env);
    if (endpoint?.IPAddress === candidate.bundle && endpoint.Gateway === candidate.gateway) return candidate;
  }
  throw new DockerError(`the docker standby ${id}'s bundle is at ${String(endpoint?.IPAddress)} on its internal network, not an address bot-bottle gives it: refusing it`);
}

/**
 * Remove the standbys that no longer serve: of this home's `key`, any whose
 * bundle or network holder stopped; of any home or key, those whose bundle
 * exited (an idle one, or one whose home was deleted: its bundle idles out,
 * and nothing else would ever remove its networks and rule). A claimed
 * standby is its launch's (its teardown, or `cleanup`, removes it) and is
 * never touched here.
 */
export async function sweepStandbys(home: string, key: string): Promise<void> {
  const socket = engineSocket();
  if (socket === undefined) return;
  const all = await listStandbys(socket, undefined, 'all');
  const running = new Set((await listStandbys(socket, undefined, 'running')).map((c) => c.Id));
  const ids = new Set(all.map((c) => unclaimedId(c) ?? unclaimedId(c, 'netns')).filter(isStandbyId));
  const claimed = new Set(claimFiles(home));
  for (const id of ids) {
    if (claimed.has(id) || takenIn(all, id)) continue;
    const bundle = all.find((c) => unclaimedId(c) === id);
    const holder = all.find((c) => unclaimedId(c, 'netns') === id);
    const mine = bundle?.Labels?.[STANDBY_LABEL] === key;
    const dead = bundle !== undefined && !running.has(bundle.Id);
    const broken = mine && (bundle === undefined || holder === undefined || !running.has(bundle.Id) || !running.has(holder.Id));
    if (dead || broken) {
      cancelExpiry(home, id);
      await removeStandby(id);
    }
  }
}

/**
 * Remove every unclaimed standby whose bundle binds `stateRoot` (this home's), running or not: what `cleanup`
 * and a bench's end do. Returns the ids removed.
 */
export async function removeHomeStandbys(home: string): Promise<string[]> {
  const ids = await homeStandbys(homePaths(home).stateRoot);
  for (const id of ids) {
    cancelExpiry(home, id);
    await removeStandby(id);
  }
  return ids;
}

/** The unclaimed standbys whose bundle binds `stateRoot` (this home's), running or not. */
export async function homeStandbys(stateRoot: string): Promise<string[]> {
  const socket = engineSocket();
  if (socket === undefined) return [];
  const ids: string[] = [];
  for (const c of await listStandbys(socket, undefined, 'all')) {
    const id = unclaimedId(c);
    if (id === undefined || !(c.Mounts ?? []).some((m) => m.Source === stateRoot && m.Destination === stateRoot)) continue;
    ids.push(id);
  }
  return ids;
}

/**
 * Remove the claim files whose standby is gone: a launch's teardown removes its own, a killed launch leaves
 * one until `cleanup` removed its bottle's resources.
 */
export async function removeStaleClaims(home: string): Promise<void> {
  const socket = engineSocket();
  if (socket === undefined) return;
  const live = new Set((await listStandbys(socket, undefined, 'all')).map((c) => c.Labels?.[SLUG_LABEL]));
  for (const id of claimFiles(home)) if (!live.has(id)) rmSync(join(claimsDir(home), id), { force: true });
}

/** Remove one unclaimed standby: its container, networks, rule. */
export async function removeStandby(id: string, containerId?: string): Promise<void> {
  if (!isStandbyId(id)) throw new DockerError('refusing to remove a docker standby by a name that is not a standby id');
  await removeContainer(containerId ?? containerName(id, 'sidecars'));
  await removeContainer(containerName(id, 'netns'));
  await removeNetwork(networkName(id, 'internal'));
  await removeNetwork(networkName(id, 'egress'));
  for (const rule of hostRules(id, bridgeName(id, 'internal'))) await removeFirewallRule(rule);
}

/** Whether a running, unclaimed standby for `key` exists whose bundle said it waits (its `standby` line). */
export async function standbyReady(key: string): Promise<boolean> {
  const socket = engineSocket();
  if (socket === undefined || !KEY.test(key)) return false;
  for (const c of await listStandbys(socket, key, 'running')) {
    if (unclaimedId(c) === undefined || typeof c.Id !== 'string') continue;
    // Frames of the multiplexed log, so not JSON: engineRequest keeps the text as `message`.
    const reply = await engineRequest(socket, 'GET', `/containers/${c.Id}/logs?stdout=1&tail=5`, `docker logs ${c.Id}`);
    const text = (reply.body as { message?: unknown } | undefined)?.message;
    if (reply.status === 200 && typeof text === 'string' && text.includes('"event":"standby"')) return true;
  }
  return false;
}

/** Names of leftover claim files (their standby is gone): removed by `cleanup`. */
export function claimFiles(home: string): string[] {
  try {
    return readdirSync(claimsDir(home)).filter((n) => isStandbyId(n));
  } catch {
    return [];
  }
}
