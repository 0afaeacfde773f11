import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { startDockerBundle, bundleBinds, bundleGuestEndpoints, bundleListeners, type DockerBundle } from '../../src/backends/docker/bundle.js';
import { docker } from '../../src/backends/docker/cli.js';
import { blockBridgeToHost } from '../../src/backends/docker/firewall.js';
import { exitCode, guestExec } from '../../src/backends/docker/guest-exec.js';
import { copyGuestFiles, createAgentContainer, guestCaBinds, guestCaFiles, trustGuestCa } from '../../src/backends/docker/guest.js';
import { ensureAgentImage, ensureSidecarsImage } from '../../src/backends/docker/images.js';
import { createEgressNetwork, createInternalNetwork, type BottleNetwork } from '../../src/backends/docker/network.js';
import { dockerProbe, dockerProbeCommand, dockerProbeTargets, probeBinds } from '../../src/backends/docker/probe.js';
import { startAttached } from '../../src/backends/docker/attach.js';
import type { DockerRuntime } from '../../src/backends/docker/runtime.js';
import type { LaunchSecrets } from '../../src/backends/types.js';
import { containmentGate } from '../../src/containment/gate.js';
import { sidecarConfig } from '../../src/launch/sidecar-config.js';
import { TeardownStack } from '../../src/launch/teardown.js';
import { ManifestCatalog } from '../../src/manifest/catalog.js';
import { resolvePlan } from '../../src/plan/resolve.js';
import type { BottlePlan } from '../../src/plan/types.js';
import { provisionGuest, type GuestSetup } from '../../src/provision/guest.js';
import { bottleStatePaths, queueDir } from '../../src/state/paths.js';
import { tempHome, type TempHome } from './home.js';
import { OFFLINE_BUILD } from './docker.js';

/**
 * One docker bottle assembled from the phase-1 building blocks, in the order
 * the launch will use them (networks, host rule, agent held, probe begun,
 * bundle, CA, verdict), for tests. Upstreams live on `egressNetwork`, an
 * existing network the bundle joins (BOT_BOTTLE_DOCKER_EGRESS_NETWORK).
 */
export const quiet = { ...OFFLINE_BUILD, output: new PassThrough().resume() };
export const TOKEN = `ghp_${randomBytes(18).toString('hex')}`;
export const AGENT_SECRET = `agent-secret-${randomBytes(9).toString('hex')}`;

export interface TestBottle {
  slug: string;
  h: TempHome;
  plan: BottlePlan;
  setup: GuestSetup;
  stack: TeardownStack;
  internal: BottleNetwork;
  agent: { id: string; name: string };
  bundle: DockerBundle;
  /** The gate's verdict (rejects with a ContainmentError). */
  verdict: Promise<void>;
}

export interface TestBottleOptions {
  runtime: DockerRuntime;
  egressNetwork: string;
  /** Host firewall rule on the internal bridge (default on). */
  firewall?: boolean;
  /** Knobs and resolver pins for the bundle, on its stdin with the token. */
  bundleEnv?: Record<string, string>;
  routes?: unknown[];
  /** A root the bundle trusts for upstreams (BOT_BOTTLE_UPSTREAM_CA, written into the bottle's state folder). */
  upstreamCaPem?: string;
  stack?: TeardownStack;
  slug?: string;
  /** The agent image (default: the shell provider's). */
  image?: string;
}

/** A failed launch unwinds what it made, unless the caller gave the stack (then the caller unwinds). */
export async function launchTestBottle(opts: TestBottleOptions): Promise<TestBottle> {
  if (opts.stack !== undefined) return launch(opts, opts.stack);
  const stack = new TeardownStack(() => undefined);
  return stack.guard(() => launch(opts, stack));
}

async function launch(opts: TestBottleOptions, stack: TeardownStack): Promise<TestBottle> {
  const [sidecarsImage, shellImage] = await Promise.all([ensureSidecarsImage(quiet), ensureAgentImage({ kind: 'provider', template: 'shell' }, quiet)]);
  const slug = opts.slug ?? `dkb-${randomBytes(4).toString('hex')}`;
  const h = tempHome();
  h.writeBottle('b', 'agent_provider: {template: shell}\nenv:\n  AGENT_SECRET: ${AGENT_SECRET_HOST}\negress:\n  routes:\n    - host: api.example.test\n      auth: {scheme: Bearer, token_ref: DKB_TOKEN}');
  h.writeAgent('a', 'bottle: b');
  const hostEnv = { PATH: process.env.PATH, BOT_BOTTLE_PRECONNECT: '0', BOT_BOTTLE_STANDBY: '0', DKB_TOKEN: TOKEN, AGENT_SECRET_HOST: AGENT_SECRET };
  const plan = resolvePlan(new ManifestCatalog({ home: h.home, cwd: h.cwd, userHome: h.userHome }), {
    agent: 'a', bottles: [], backend: 'docker', backendReason: 'test', slug, cwd: h.cwd, copyCwd: false,
    mode: { kind: 'headless', prompt: 'true' }, home: h.home, hostEnv, containmentCheck: true,
  });
  const secrets: LaunchSecrets = { agentEnv: { AGENT_SECRET }, sidecarEnv: { EGRESS_TOKEN_0: TOKEN } };
  const paths = bottleStatePaths(slug, h.home);
  const queue = queueDir(slug, h.home);
  for (const dir of [paths.dir, paths.workspace, paths.runDir, queue]) mkdirSync(dir, { recursive: true });
  writeFileSync(paths.egressRoutes, `${JSON.stringify(opts.routes ?? [])}\n`);
  const upstreamCa = join(paths.dir, 'upstream-ca.pem');
  if (opts.upstreamCaPem !== undefined) writeFileSync(upstreamCa, opts.upstreamCaPem);

  stack.defer('remove temp home', () => h.cleanup());
  const internal = await createInternalNetwork(slug);
  stack.defer('internal network', internal.undo);
  const egress = await createEgressNetwork(slug, { BOT_BOTTLE_DOCKER_EGRESS_NETWORK: opts.egressNetwork });
  stack.defer('egress network', egress.undo);
  if (opts.firewall !== false) {
    const rule = await blockBridgeToHost(slug, internal.bridge ?? '');
    stack.defer('firewall rule', rule.undo);
  }

  const caCertOut = join(paths.runDir, 'ca.pem');
  const configFile = join(paths.runDir, 'sidecars.json');
  const config = sidecarConfig(plan, paths, h.home, bundleListeners(), caCertOut);
  writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  const setup = provisionGuest(plan, bundleGuestEndpoints(config.gitGate !== undefined), secrets, { userHome: h.userHome });

  const gate = containmentGate({ plan, secrets, hostEnv, home: h.home, log: () => undefined });
  stack.defer('close canaries', () => gate.dispose());
  const caFiles = guestCaFiles(paths.runDir);
  const agent = await createAgentContainer({
    slug,
    image: opts.image ?? shellImage.id,
    runtime: opts.runtime,
    network: internal.name,
    ...(internal.addressing !== undefined ? { addressing: internal.addressing } : {}),
    workspace: { hostPath: paths.workspace, guestPath: plan.workspace.guestPath },
    readOnly: [...probeBinds(), ...guestCaBinds(caFiles)],
    probe: dockerProbeCommand(),
    teardown: stack,
  });
  const io = await startAttached(agent.id);
  stack.defer('detach from the agent container', io.kill);
  await copyGuestFiles(agent.id, setup);
  // Canaries open once the bottle's bridges exist, so their gateways (host addresses) are among them.
  const early = await gate.begin(dockerProbeTargets(config.gitGate !== undefined));
  const probe = dockerProbe(io, early);
  stack.defer('stop probe', probe.stop);

  const bundle = await startDockerBundle({
    slug,
    image: sidecarsImage.id,
    runtime: opts.runtime,
    internal,
    egress,
    configFile,
    caCertOut,
    binds: bundleBinds(config, { stateDir: paths.dir, queueDir: queue }),
    secrets: { ...secrets.sidecarEnv, ...(opts.upstreamCaPem !== undefined ? { BOT_BOTTLE_UPSTREAM_CA: upstreamCa } : {}), ...(opts.bundleEnv ?? {}) },
    teardown: stack,
    logFile: join(paths.dir, 'sidecars.log'),
  });
  trustGuestCa(caFiles, bundle.caPem);
  const verdict = gate.verify(probe.inside({ caPem: bundle.caPem, hostProcessMarkers: [configFile], runtime: opts.runtime }));
  void verdict.catch(() => undefined);
  return { slug, h, plan, setup, stack, internal, agent, bundle, verdict };
}

/** A container's IPv4 address on one network. */
export async function addressOn(container: string, network: string): Promise<string> {
  return docker(['inspect', '--format', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container]);
}

/** Everything `docker inspect` says about a container, as text. */
export function inspectText(container: string): Promise<string> {
  return docker(['inspect', container]);
}

/** Runs `script` in the agent container as the agent, with its provisioned environment. */
export async function inAgent(b: TestBottle, script: string): Promise<{ code: number; out: string }> {
  const child = await guestExec(b.agent.id, { argv: ['bash', '-c', script], env: b.setup.env, workdir: b.setup.workdir });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  return { code: await exitCode(child), out: out.trim() };
}
