import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { docker } from '../../../src/backends/docker/cli.js';
import { connectNetwork, createContainer, startContainer } from '../../../src/backends/docker/containers.js';
import { blockBridgeToHost, hostFirewallSupport, listFirewallRules } from '../../../src/backends/docker/firewall.js';
import { ensureAgentImage, ensureSidecarsImage, SIDECARS_ENTRY_IN_IMAGE } from '../../../src/backends/docker/images.js';
import { bridgeName, BUNDLE_ALIAS, containerName, labelArgs } from '../../../src/backends/docker/names.js';
import { createEgressNetwork, createInternalNetwork, networkGateways, removeNetwork, type BottleNetwork } from '../../../src/backends/docker/network.js';
import { listBottleResources, removeBottleResources } from '../../../src/backends/docker/resources.js';
import { TeardownStack } from '../../../src/launch/teardown.js';
import { missingOfflineBase, missingRunsc, OFFLINE_BUILD } from '../../support/docker.js';

const quiet = { ...OFFLINE_BUILD, output: new PassThrough().resume() };
const testSlug = (what: string): string => `dkr-${what}-${randomBytes(3).toString('hex')}`;

async function exists(kind: 'network' | 'container', name: string): Promise<boolean> {
  return docker([kind, 'inspect', name]).then(
    () => true,
    () => false,
  );
}

/** A TCP listener on one of the host's own addresses: what the agent must not reach. */
async function canary(host: string): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    // The probe hangs up at once: a reset here is expected, not a failure.
    socket.on('error', () => undefined);
    socket.end('canary\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no canary port');
  return { server, port: address.port };
}

describe.skipIf(missingOfflineBase())("a bottle's networks and its host firewall rule (real engine)", () => {
  const slug = testSlug('net');
  const stack = new TeardownStack();
  const dir = mkdtempSync(join(tmpdir(), 'bb-docker-net-'));
  const canaries: Server[] = [];
  let shell: string;
  let internal: BottleNetwork;
  let egress: BottleNetwork;
  let bundleId: string;

  /** A throwaway agent-like container on the internal network; `script` runs in bash. */
  const inAgent = (script: string, runtime?: string): Promise<string> =>
    docker(['run', '--rm', '--network', internal.name, '--dns', '127.0.0.1', '--cap-drop', 'ALL', ...labelArgs(slug, 'agent'), ...(runtime ? ['--runtime', runtime] : []), shell, 'bash', '-c', script]);

  /** open: connected; refused: RST (nothing listens, the host answered); timeout: dropped. */
  const reach = async (host: string, port: number, runtime?: string): Promise<string> => {
    const code = await inAgent(`timeout 3 bash -c 'exec 3<>/dev/tcp/${host}/${port}' 2>/dev/null; echo $?`, runtime);
    return code === '0' ? 'open' : code === '124' ? 'timeout' : `refused (${code})`;
  };

  /** Through the real egress in the bundle, found by its alias. */
  const allowlist = (runtime?: string): Promise<string> => inAgent(`curl -sS --max-time 10 -x http://${BUNDLE_ALIAS}:3128 http://_egress.local/allowlist`, runtime);

  beforeAll(async () => {
    const [sidecars, agent] = await Promise.all([ensureSidecarsImage(quiet), ensureAgentImage({ kind: 'provider', template: 'shell' }, quiet)]);
    shell = agent.id;
    internal = await createInternalNetwork(slug);
    stack.defer('internal network', internal.undo);
    egress = await createEgressNetwork(slug, {});
    stack.defer('egress network', egress.undo);
    writeFileSync(join(dir, 'routes.json'), '[]\n');
    writeFileSync(join(dir, 'sidecars.json'), JSON.stringify({ bottle: slug, egress: { listen: { host: '0.0.0.0', port: 3128 }, routesFile: '/cfg/routes.json', caCertOut: '/cfg/ca.pem', auditLog: '/cfg/audit.jsonl' } }));
    const bundle = await createContainer({
      slug,
      role: 'sidecars',
      name: containerName(slug, 'sidecars'),
      image: sidecars.id,
      network: internal.name,
      aliases: [BUNDLE_ALIAS],
      mounts: [{ source: dir, target: '/cfg', readOnly: false }],
      command: ['node', SIDECARS_ENTRY_IN_IMAGE, '--config', '/cfg/sidecars.json'],
    });
    stack.defer('bundle container', bundle.undo);
    bundleId = bundle.id;
    await connectNetwork(bundle.id, egress.name);
    await startContainer(bundle.id);
    // Ready once it has written its CA (bounded: 30 s).
    for (let i = 0; i < 300 && !existsSync(join(dir, 'ca.pem')); i++) await new Promise((r) => setTimeout(r, 100));
    if (!existsSync(join(dir, 'ca.pem'))) throw new Error(`the bundle did not start: ${await docker(['logs', bundle.id]).catch((e: Error) => e.message)}`);
  }, 600_000);

  afterAll(async () => {
    for (const server of canaries) server.close();
    await stack.unwind();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the agent reaches the bundle by its alias on the internal network (the real egress answers)', async () => {
    expect(JSON.parse(await allowlist())).toEqual({ routes: [] });
  }, 60_000);

  it('without the rule the internal network reaches the host (why it exists); with it, nothing on the host; undo reopens', async () => {
    const [internalGw] = await networkGateways(internal.name);
    const [egressGw] = await networkGateways(egress.name);
    if (internalGw === undefined || egressGw === undefined) throw new Error('networks without gateways');
    // The host's own addresses on the bottle's bridge and on another bridge.
    const onInternal = await canary(internalGw);
    const onEgress = await canary(egressGw);
    canaries.push(onInternal.server, onEgress.server);
    expect(await reach(internalGw, onInternal.port)).toBe('open');
    expect(await reach(egressGw, onEgress.port)).toBe('open');

    const rule = await blockBridgeToHost(slug, internal.bridge!);
    stack.defer('firewall rule', rule.undo);
    expect(rule.rules.map((r) => r.family)).toContain('ipv4');
    expect(await reach(internalGw, onInternal.port)).toMatch(/^refused/);
    expect(await reach(egressGw, onEgress.port)).toMatch(/^refused/);
    // Agent and bundle talk across the bridge, never to the host: unaffected.
    expect(JSON.parse(await allowlist())).toEqual({ routes: [] });

    await rule.undo();
    expect((await listFirewallRules()).filter((r) => r.slug === slug)).toEqual([]);
    expect(await reach(internalGw, onInternal.port)).toBe('open');
  }, 120_000);

  it('refuses at once more attempts than the kernel sends ICMP errors for in a burst (TCP by reset)', async () => {
    const [internalGw] = await networkGateways(internal.name);
    if (internalGw === undefined) throw new Error('no gateway');
    const rule = await blockBridgeToHost(slug, internal.bridge!);
    stack.defer('firewall rule (burst)', rule.undo);
    try {
      expect(rule.rules.filter((r) => r.family === 'ipv4').map((r) => r.proto ?? 'all')).toEqual(['tcp', 'all']);
      // 8 TCP and 4 UDP attempts at once at closed ports of the host (the containment probe makes as many,
      // one of each per host address). The kernel answers a burst of 6 ICMP errors to one address, then
      // one a second: with TCP refused by ICMP too, the later attempts met silence and timed out.
      const script = `const net = require('node:net'); const dgram = require('node:dgram'); const host = ${JSON.stringify(internalGw)};
const tcp = (port) => new Promise((done) => { const s = net.connect({ host, port }); const t = setTimeout(() => { s.destroy(); done('timeout'); }, 3000); s.on('connect', () => { clearTimeout(t); s.destroy(); done('connected'); }); s.on('error', (e) => { clearTimeout(t); done(e.code); }); });
const udp = (port) => new Promise((done) => { const s = dgram.createSocket('udp4'); const t = setTimeout(() => { s.close(); done('timeout'); }, 3000); s.on('error', (e) => { clearTimeout(t); s.close(); done(e.code); }); s.connect(port, host, () => s.send('x')); });
Promise.all([...[1, 2, 3, 4, 5, 6, 7, 8].map((i) => tcp(9 + i)), ...[1, 2, 3, 4].map((i) => udp(9 + i))]).then((r) => console.log(JSON.stringify(r)));`;
      const out = await docker(['run', '--rm', '--network', internal.name, '--cap-drop', 'ALL', ...labelArgs(slug, 'agent'), '--mount', `type=bind,source=${realpathSync(process.execPath)},target=/bb-node,readonly`, shell, '/bb-node', '-e', script]);
      expect(JSON.parse(out)).toEqual(Array(12).fill('ECONNREFUSED'));
    } finally {
      await rule.undo();
    }
  }, 120_000);

  it.skipIf(missingRunsc())('under gVisor too: the bundle by alias, the host dropped', async () => {
    const [internalGw] = await networkGateways(internal.name);
    const onInternal = await canary(internalGw!);
    canaries.push(onInternal.server);
    const rule = await blockBridgeToHost(slug, internal.bridge!);
    stack.defer('firewall rule (runsc)', rule.undo);
    try {
      // Really another kernel: gVisor's, not the host's.
      expect(await inAgent('uname -r', 'runsc')).not.toBe(await inAgent('uname -r'));
      expect(JSON.parse(await allowlist('runsc'))).toEqual({ routes: [] });
      expect(await reach(internalGw!, onInternal.port, 'runsc')).toMatch(/^refused/);
    } finally {
      await rule.undo();
    }
  }, 120_000);

  it('teardown removes the containers, the networks and the rule', async () => {
    const rule = await blockBridgeToHost(slug, internal.bridge!);
    stack.defer('firewall rule (teardown)', rule.undo);
    expect((await listFirewallRules()).filter((r) => r.slug === slug).length).toBe(rule.rules.length);
    expect(await stack.unwind()).toEqual([]);
    expect(await exists('container', bundleId)).toBe(false);
    expect(await exists('network', internal.name)).toBe(false);
    expect(await exists('network', egress.name)).toBe(false);
    expect((await listFirewallRules()).filter((r) => r.slug === slug)).toEqual([]);
  }, 120_000);
});

describe.skipIf(missingOfflineBase())('orphans by label (real engine)', () => {
  it('finds every resource of a bottle whose launch died without teardown, and removes them', async () => {
    const slug = testSlug('orphan');
    const shell = await ensureAgentImage({ kind: 'provider', template: 'shell' }, quiet);
    try {
      const internal = await createInternalNetwork(slug);
      const egress = await createEgressNetwork(slug, {});
      const rule = await blockBridgeToHost(slug, internal.bridge!);
      const agent = await createContainer({ slug, role: 'agent', name: containerName(slug, 'agent'), image: shell.id, network: internal.name, command: ['true'] });
      // No undo ran: exactly what a killed CLI leaves.
      const found = (await listBottleResources()).get(slug);
      expect(found?.containers.map((c) => [c.id, c.role, c.running])).toEqual([[agent.id, 'agent', false]]);
      expect(found?.networks.map((n) => [n.name, n.role]).sort()).toEqual([
        [egress.name, 'egress'],
        [internal.name, 'internal'],
      ]);
      expect(found?.firewallRules.sort((a, b) => a.family.localeCompare(b.family))).toEqual(rule.rules);
      expect(await removeBottleResources(found!)).toEqual([]);
      expect((await listBottleResources()).has(slug)).toBe(false);
      expect(await exists('network', internal.name)).toBe(false);
    } finally {
      const left = (await listBottleResources()).get(slug);
      if (left !== undefined) await removeBottleResources(left);
    }
  }, 120_000);
});

describe.skipIf(missingOfflineBase())('BOT_BOTTLE_DOCKER_EGRESS_NETWORK (real engine)', () => {
  it("joins an existing network for the bundle's outside leg and leaves it on teardown", async () => {
    const slug = testSlug('egr');
    const name = `bbtest-upstream-${randomBytes(3).toString('hex')}`;
    await docker(['network', 'create', name]);
    try {
      const egress = await createEgressNetwork(slug, { BOT_BOTTLE_DOCKER_EGRESS_NETWORK: name });
      expect(egress).toMatchObject({ name, created: false });
      await egress.undo();
      expect(await exists('network', name)).toBe(true);
      expect(await exists('network', `bot-bottle-${slug}-egress`)).toBe(false);
    } finally {
      await removeNetwork(name);
    }
  }, 60_000);

  it("refuses another bottle's internal network, a missing network and a name that is not one", async () => {
    const other = testSlug('other');
    const internal = await createInternalNetwork(other);
    try {
      await expect(createEgressNetwork(testSlug('x'), { BOT_BOTTLE_DOCKER_EGRESS_NETWORK: internal.name })).rejects.toThrow(/another bottle's agent/);
    } finally {
      await internal.undo();
    }
    await expect(createEgressNetwork(testSlug('x'), { BOT_BOTTLE_DOCKER_EGRESS_NETWORK: `bbtest-missing-${randomBytes(3).toString('hex')}` })).rejects.toThrow(/no such docker network/);
    await expect(createEgressNetwork(testSlug('x'), { BOT_BOTTLE_DOCKER_EGRESS_NETWORK: '--internal' })).rejects.toThrow(/not a docker network name/);
  }, 60_000);
});

describe('refusing to launch where the host rule cannot be enforced', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it('says so when not root', async () => {
    vi.spyOn(process, 'getuid').mockReturnValue(1000);
    const support = await hostFirewallSupport();
    expect(support).toEqual({ ok: false, reason: expect.stringMatching(/needs root.*does not launch without it/) });
    await expect(blockBridgeToHost('dkr-x', bridgeName('dkr-x', 'internal'))).rejects.toThrow(/needs root/);
  });

  it('says so when iptables is missing', async () => {
    vi.spyOn(process, 'getuid').mockReturnValue(0);
    vi.stubEnv('PATH', mkdtempSync(join(tmpdir(), 'bb-empty-path-')));
    expect(await hostFirewallSupport()).toEqual({ ok: false, reason: expect.stringMatching(/iptables is not installed/) });
  });

  it.skipIf(process.getuid?.() !== 0)('refuses a bridge that is not an interface of this machine (remote engine, Docker Desktop)', async () => {
    await expect(blockBridgeToHost('dkr-nowhere', bridgeName('dkr-nowhere', 'internal'))).rejects.toThrow(/not an interface of this machine/);
  });

  it('refuses a bridge name that is not ours', async () => {
    await expect(blockBridgeToHost('dkr-x', 'eth0')).rejects.toThrow(/not a bot-bottle bridge/);
  });
});
