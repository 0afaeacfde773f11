import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { internalAddressing } from '../../../src/backends/docker/addressing.js';
import { docker, DockerError } from '../../../src/backends/docker/cli.js';
import { createArgs, createContainer, removeContainer, startContainer, type ContainerSpec } from '../../../src/backends/docker/containers.js';
import { engineHijack, engineRequest, engineSocket } from '../../../src/backends/docker/engine.js';
import { copyGuestFilesBeforeStart, createAgentContainer, guestCaBinds, guestCaFiles, trustGuestCa } from '../../../src/backends/docker/guest.js';
import { ensureAgentImage, imageId } from '../../../src/backends/docker/images.js';
import { createInternalNetwork, removeNetwork, type BottleNetwork } from '../../../src/backends/docker/network.js';
import { containerName } from '../../../src/backends/docker/names.js';
import type { DockerRuntime } from '../../../src/backends/docker/runtime.js';
import { TeardownStack } from '../../../src/launch/teardown.js';
import { missingOfflineBase, missingRunsc } from '../../support/docker.js';
import { quiet } from '../../support/docker-bottle.js';

/**
 * The Engine API client (engine.ts) and what the launch now does through it,
 * against the real engine: the create body means what the CLI's flags mean,
 * the engine's refusals read like the CLI's, the internal network's pinned
 * /29 (and the next one when it is taken), the home's files put in before
 * start belong to the agent, the agent resolves only the bundle's alias and
 * sees the bottle CA filled in after it started.
 */
const newSlug = (what: string): string => `dke-${what}-${randomBytes(3).toString('hex')}`;

describe('engineSocket: only a local engine socket', () => {
  it('uses DOCKER_HOST=unix://PATH, the default socket without DOCKER_HOST or a context, and nothing otherwise', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bb-engine-sock-'));
    const sock = join(dir, 'docker.sock');
    writeFileSync(sock, '');
    try {
      expect(engineSocket({ DOCKER_HOST: `unix://${sock}` })).toBe(sock);
      expect(engineSocket({ DOCKER_HOST: `unix://${join(dir, 'missing.sock')}` })).toBeUndefined();
      expect(engineSocket({ DOCKER_HOST: 'tcp://127.0.0.1:2375' })).toBeUndefined();
      expect(engineSocket({ DOCKER_HOST: 'ssh://someone@host' })).toBeUndefined();
      expect(engineSocket({ DOCKER_CONTEXT: 'remote' })).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says the engine is not there when nothing listens on the socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bb-engine-none-'));
    try {
      const error = await engineRequest(join(dir, 'docker.sock'), 'GET', '/info', 'docker info').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DockerError);
      expect((error as Error).message).toMatch(/docker info failed: no Docker engine answers at .*docker\.sock \(is dockerd running\?\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(missingOfflineBase())('the Engine API calls (real engine)', () => {
  const stack = new TeardownStack();
  let shell: string;
  let internal: BottleNetwork;
  const slug = newSlug('api');
  const dir = mkdtempSync(join(tmpdir(), 'bb-engine-'));

  beforeAll(async () => {
    shell = (await ensureAgentImage({ kind: 'provider', template: 'shell' }, quiet)).id;
    internal = await createInternalNetwork(slug);
    stack.defer('internal network', internal.undo);
  }, 600_000);

  afterAll(async () => {
    await stack.unwind();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the same container as the CLI flags would (security options, mounts, network, user, stdin)', async () => {
    mkdirSync(join(dir, 'ro'), { recursive: true });
    const spec = (name: string): ContainerSpec => ({
      slug,
      role: 'sidecars',
      name,
      image: shell,
      network: internal.name,
      aliases: ['sidecars'],
      ip: internal.addressing!.bundle,
      user: '1000:1000',
      workdir: '/workspace',
      hostname: 'bottle',
      env: { PLAIN_SETTING: 'visible' },
      mounts: [{ source: join(dir, 'ro'), target: '/ro', readOnly: true }],
      tmpfs: ['/scratch:size=1m'],
      dns: ['127.0.0.1'],
      extraHosts: ['peer:10.0.0.9'],
      pidsLimit: 64,
      interactive: true,
      command: ['sleep', 'infinity'],
    });
    const viaCli = spec(`${containerName(slug, 'sidecars')}-cli`);
    const cliId = await docker(createArgs(viaCli), { env: viaCli.env ?? {} });
    stack.defer('cli container', () => removeContainer(cliId));
    // Only one container may hold the pinned address at a time; both are only created, never started.
    const viaApi = await createContainer(spec(`${containerName(slug, 'sidecars')}-api`));
    stack.defer('api container', viaApi.undo);
    const shape = async (id: string): Promise<unknown> => {
      const [c] = JSON.parse(await docker(['inspect', id])) as Array<{ Config: Record<string, unknown>; HostConfig: Record<string, unknown>; NetworkSettings: { Networks: Record<string, { Aliases: string[] | null; IPAMConfig: unknown }> } }>;
      const net = c!.NetworkSettings.Networks[internal.name];
      const pick = (o: Record<string, unknown>, keys: string[]): Record<string, unknown> => Object.fromEntries(keys.map((k) => [k, o[k]]));
      return {
        config: pick(c!.Config, ['User', 'WorkingDir', 'Hostname', 'Env', 'Cmd', 'Image', 'Labels', 'OpenStdin', 'StdinOnce', 'AttachStdin']),
        host: pick(c!.HostConfig, ['NetworkMode', 'Init', 'CapDrop', 'SecurityOpt', 'Mounts', 'Tmpfs', 'Dns', 'ExtraHosts', 'PidsLimit', 'ReadonlyRootfs']),
        aliases: (net?.Aliases ?? []).filter((a) => a === 'sidecars'),
        ipam: net?.IPAMConfig,
      };
    };
    const [cli, api] = await Promise.all([shape(cliId), shape(viaApi.id)]);
    expect(api).toEqual(cli);
    expect(api).toMatchObject({
      config: { User: '1000:1000', OpenStdin: true, StdinOnce: true, Labels: { 'bot-bottle.slug': slug, 'bot-bottle.role': 'sidecars' } },
      host: { Init: true, CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges'], PidsLimit: 64, Mounts: [{ Type: 'bind', Source: join(dir, 'ro'), Target: '/ro', ReadOnly: true }] },
      aliases: ['sidecars'],
      ipam: { IPv4Address: internal.addressing!.bundle },
    });
  }, 60_000);

  it('a hijacked attach splits stdout from stderr, and ending its write side closes the container\'s stdin (the bundle\'s lifeline)', async () => {
    const socket = engineSocket();
    if (socket === undefined) throw new Error('no local engine socket');
    const created = await createContainer({ slug, role: 'sidecars', name: `${containerName(slug, 'sidecars')}-attach`, image: shell, network: internal.name, interactive: true, command: ['sh', '-c', 'echo out; echo err >&2; cat; echo "after $?"'] });
    stack.defer('attach container', created.undo);
    await expect(engineHijack(socket, '/containers/bot-bottle-gone/attach?stream=1&stdin=1&stdout=1&stderr=1', 'docker start -ai bot-bottle-gone')).rejects.toThrow(/docker start -ai bot-bottle-gone failed: Error response from daemon: No such container/);
    const stream = await engineHijack(socket, `/containers/${created.id}/attach?stream=1&stdin=1&stdout=1&stderr=1`, 'docker start -ai');
    const read = (from: NodeJS.ReadableStream): Promise<string> => new Promise((resolve) => {
      let text = '';
      from.on('data', (c: Buffer) => (text += c.toString('utf8')));
      from.on('end', () => resolve(text));
    });
    const [out, err] = [read(stream.stdout), read(stream.stderr)];
    await startContainer(created.id);
    // A large line crosses several of the engine's frames.
    const big = 'x'.repeat(100_000);
    stream.stdin.end(`in ${big}\n`);
    await stream.closed;
    expect(await out).toBe(`out\nin ${big}\nafter 0\n`);
    expect(await err).toBe('err\n');
  }, 60_000);

  it("reads the engine's refusals as the CLI does: a missing image, an object already gone", async () => {
    expect(await imageId(`bot-bottle-missing:${randomBytes(4).toString('hex')}`)).toBeUndefined();
    const missing = `bot-bottle-missing:${randomBytes(4).toString('hex')}`;
    await expect(createContainer({ slug, role: 'agent', name: `${containerName(slug, 'agent')}-x`, image: missing, network: internal.name, command: ['true'] })).rejects.toThrow(
      new RegExp(`docker create --name .* failed: Error response from daemon: No such image: ${missing}`),
    );
    await expect(removeContainer(`bot-bottle-gone-${randomBytes(4).toString('hex')}`)).resolves.toBeUndefined();
    await expect(removeNetwork(`bot-bottle-gone-${randomBytes(4).toString('hex')}`)).resolves.toBeUndefined();
    await expect(startContainer(`bot-bottle-gone-${randomBytes(4).toString('hex')}`)).rejects.toThrow(/No such container/);
  }, 60_000);

  it("pins the internal network at the slug's /29, and takes the next one when another network holds it", async () => {
    expect(internal.addressing).toEqual(internalAddressing(slug));
    const subnet = await docker(['network', 'inspect', '--format', '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}', internal.name]);
    expect(subnet).toBe(`${internal.addressing!.subnet} ${internal.addressing!.gateway}`);
    const other = newSlug('taken');
    const squatter = `bbtest-squat-${randomBytes(3).toString('hex')}`;
    await docker(['network', 'create', '--internal', '--subnet', internalAddressing(other).subnet, squatter]);
    try {
      const taken = await createInternalNetwork(other);
      try {
        expect(taken.addressing).toEqual(internalAddressing(other, 1));
      } finally {
        await taken.undo();
      }
    } finally {
      await removeNetwork(squatter);
    }
  }, 60_000);

  for (const [runtime, missing] of [
    ['runc', undefined],
    ['runsc', missingRunsc()],
  ] as Array<[DockerRuntime, string | undefined]>) {
    it.skipIf(missing)(`under ${runtime}: the home's files are the agent's, it resolves only the bundle's alias, and sees the CA filled in after start`, async () => {
      const local = new TeardownStack();
      const run = mkdtempSync(join(tmpdir(), 'bb-engine-run-'));
      local.defer('run folder', () => rmSync(run, { recursive: true, force: true }));
      try {
        const workspace = join(run, 'workspace');
        mkdirSync(workspace);
        const ca = guestCaFiles(run);
        const agent = await createAgentContainer({
          slug,
          image: shell,
          runtime,
          network: internal.name,
          addressing: internal.addressing!,
          workspace: { hostPath: workspace, guestPath: '/workspace' },
          readOnly: guestCaBinds(ca),
          teardown: local,
        });
        await copyGuestFilesBeforeStart(agent.id, { files: [{ path: '/home/agent/.config/bb/settings.json', content: '{"a":1}\n', mode: 0o600 }], copies: [] });
        await startContainer(agent.id);
        const pem = '-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----';
        trustGuestCa(ca, pem);
        const out = await docker([
          'exec',
          agent.id,
          'bash',
          '-c',
          [
            'find /home/agent/.config -printf "%u %m %p\\n"',
            'cat /home/agent/.config/bb/settings.json',
            'echo written > /home/agent/.config/bb/new && echo home-writable',
            'getent hosts sidecars',
            'getent hosts debian-mirror.invalid localhost.bot-bottle.test example.com && echo RESOLVED || echo unresolved',
            'grep -v "^#" /etc/resolv.conf',
            'cat /etc/bot-bottle/ca.pem',
            'tail -n 3 /etc/ssl/certs/ca-certificates.crt',
            'echo x 2>/dev/null > /etc/bot-bottle/ca.pem && echo CA-WRITABLE || echo ca-read-only',
          ].join('; '),
        ]);
        expect(out).toContain('agent 755 /home/agent/.config/bb');
        expect(out).toContain('agent 600 /home/agent/.config/bb/settings.json');
        expect(out).toContain('{"a":1}');
        expect(out).toContain('home-writable');
        expect(out).toMatch(new RegExp(`^${internal.addressing!.bundle.replace(/\./g, '\\.')}\\s+sidecars$`, 'm'));
        expect(out).toContain('unresolved');
        expect(out).not.toContain('RESOLVED');
        expect(out).toContain('nameserver 127.0.0.1');
        expect(out).not.toMatch(/nameserver (?!127\.0\.0\.1)/);
        expect(out).toContain(`${pem}\n`);
        expect(out).toContain('ca-read-only');
      } finally {
        await local.unwind();
      }
    }, 120_000);
  }
});
