import { registered, settled } from '../../launch/concurrent.js';
import { upstreamCaBind } from '../docker/bundle.js';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BottlePlan } from '../../plan/types.js';
import { GUEST_CA_FILE, GUEST_HOME, GUEST_UID, GUEST_USER } from '../../provision/layout.js';
import { queueDir } from '../../state/paths.js';
import { chownTree } from '../../util/safe-fs.js';
import { trace } from '../../util/trace.js';
import { bundleBinds, startDockerBundle } from '../docker/bundle.js';
import { BUNDLE_ALIAS } from '../docker/names.js';
import { agentImageSource, ensureAgentImage, ensureSidecarsImage } from '../docker/images.js';
import { createEgressNetwork, type BottleNetwork } from '../docker/network.js';
import type { Boundary, BoundaryContext, BundleStart, HeldGuest } from '../types.js';
import { BUNDLE_PORTS, bundleAddressing } from './addressing.js';
import { createBundleNetwork, recordEgressEvents } from './bundle-network.js';
import { exitCodeOf, probeFolder, putHomeFiles, runAgent, startGuestProbe, type SmolvmSpawn } from './guest.js';
import { bringUpMachine, installCa, ownHome, type MachineDeps } from './machine.js';
import { ensurePack } from './pack.js';
import { machineVolumes, packCacheDir } from './plan.js';
import { machineNameFor, type SmolvmRun } from './smolvm.js';
import { freshRunFolder } from '../../launch/run-folder.js';

export interface SmolvmAccess {
  run: SmolvmRun;
  spawn: SmolvmSpawn;
}

/**
 * One smolmachines bottle (docs/design/smolmachines.md): the agent in a
 * libkrun microVM made from the docker backend's agent image (packed once
 * per image id), the sidecar bundle in a Docker container pinned at its own
 * address on a per-bottle network. That address is the guest's only
 * allowed destination (`--allow-cidr <bundle>/32`) and its resolver (`--dns`,
 * where nothing answers DNS); the bundle listens there on its agent-facing
 * ports only. Secrets: the bundle's on its stdin (as docker's), the agent's
 * by reference on its one `machine exec` (`--secret-env`), never `-e`.
 *
 * Every resource registers its undo on the launch's stack the moment it
 * exists; unwinding runs them in reverse (egress events read, machine
 * stopped and deleted, bundle stopped and removed, networks removed).
 */
export function smolmachinesLaunchBoundary(plan: BottlePlan, ctx: BoundaryContext, smolvm: SmolvmAccess): Boundary {
  const stack = ctx.teardown;
  const { paths, run } = freshRunFolder(plan.slug, ctx.home, stack);
  mkdirSync(queueDir(plan.slug, ctx.home), { recursive: true, mode: 0o700 });
  const configFile = join(run, 'sidecars.json');
  const caCertOut = join(run, 'ca.pem');
  const addressing = bundleAddressing(plan.slug, ctx.hostEnv);
  const { address } = addressing;
  const machine = machineNameFor(plan.slug);
  const cacheDir = packCacheDir(ctx.home);
  const asRoot = process.getuid?.() === 0;
  const deps: MachineDeps = { run: smolvm.run, log: ctx.log };
  const at = (port: number): { host: string; port: number } => ({ host: address, port });
  const alias = (port: number): { host: string; port: number } => ({ host: BUNDLE_ALIAS, port });

  let docker: { sidecarsImage: string; bundleNet: BottleNetwork; egressNet: BottleNetwork } | undefined;
  const sidecars = {
    async start(opts: BundleStart) {
      if (docker === undefined) throw new Error('the smolmachines bundle was started before the bottle was materialised');
      writeFileSync(configFile, `${JSON.stringify(opts.config, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      const bundle = await startDockerBundle({
        slug: plan.slug,
        image: docker.sidecarsImage,
        runtime: 'runc',
        internal: docker.bundleNet,
        address,
        egress: docker.egressNet,
        configFile,
        caCertOut,
        binds: [...bundleBinds(opts.config, { stateDir: paths.dir, queueDir: queueDir(plan.slug, ctx.home) }), ...upstreamCaBind(ctx.hostEnv)],
        // Knobs and secrets alike on its stdin: a container's environment is in `docker inspect`.
        secrets: { ...opts.settings, ...opts.secrets },
        teardown: opts.teardown,
        logFile: opts.logFile,
      });
      return { caPem: bundle.caPem, died: bundle.died, hostProcessMarkers: [configFile] };
    },
  };

  return {
    sidecars,
    ...(asRoot ? { agentDirOwner: GUEST_UID } : {}),
    endpoints({ gitGate }) {
      const ports = [BUNDLE_PORTS.egress, BUNDLE_PORTS.supervise, ...(gitGate ? [BUNDLE_PORTS.gitGate] : [])];
      return {
        // Bound by the bundle's alias on its network, i.e. its pinned address only (never its egress leg). The
        // allow-list opens every port of that address, so nothing else of the bundle listens there.
        listen: {
          egress: alias(BUNDLE_PORTS.egress),
          gitGate: alias(BUNDLE_PORTS.gitGate),
          supervise: alias(BUNDLE_PORTS.supervise),
          superviseHosts: [address, `${address}:${BUNDLE_PORTS.supervise}`],
        },
        caCertOut,
        guest: {
          proxyUrl: `http://${address}:${BUNDLE_PORTS.egress}`,
          superviseUrl: `http://${address}:${BUNDLE_PORTS.supervise}/mcp`,
          ...(gitGate ? { gitGateUrl: `http://${address}:${BUNDLE_PORTS.gitGate}` } : {}),
        },
        probe: { proxy: at(BUNDLE_PORTS.egress), endpoints: ports.map(at), endpointsRemote: true },
      };
    },
    async materialise(spec) {
      const imageOptions = { env: ctx.hostEnv, ...(ctx.hostEnv.PATH !== undefined ? { pathVar: ctx.hostEnv.PATH } : {}) };
      const probeDir = spec.probe ? probeFolder(cacheDir) : undefined;
      const [sidecarsImage, agentImage, bundleNet, egressNet] = await settled([
        ensureSidecarsImage(imageOptions),
        ensureAgentImage(agentImageSource(plan), imageOptions),
        registered(createBundleNetwork(plan.slug, addressing), (n) => stack.defer('remove bundle network', n.undo)),
        registered(createEgressNetwork(plan.slug, ctx.hostEnv), (n) => stack.defer('remove egress network', n.undo)),
      ] as const);
      docker = { sidecarsImage: sidecarsImage.id, bundleNet, egressNet };
      trace('smolmachines images and networks ready');
      const pack = await ensurePack(deps, { imageId: agentImage.id, cacheDir });
      if (pack.built) ctx.log(`bot-bottle: packed ${agentImage.ref} for smolvm (${pack.file}; later starts reuse it)`);
      if (asRoot) {
        // The agent is uid 1000 in the guest, and shared folders keep host ownership: lent for the run, given back after.
        stack.defer('give the workspace back to its owner', () => chownTree(paths.workspace, process.getuid?.() ?? 0, process.getgid?.() ?? 0, { clearSetId: true }));
        chownTree(paths.workspace, GUEST_UID, GUEST_UID);
        for (const dir of spec.persisted) chownTree(dir.hostPath, GUEST_UID, GUEST_UID);
      }
      // The same list the plan printed (plan.ts), with the probe's folder made above.
      const volumes = machineVolumes({ workspace: { ...plan.workspace, hostPath: paths.workspace }, provider: { ...plan.provider, persist: [...spec.persisted] } }, probeDir);
      return {
        async start(probeSpec) {
          await bringUpMachine(stack, deps, { name: machine, from: pack.file, allowCidrs: [`${address}/32`], dns: address, volumes });
          // Registered after the machine's stop, so it runs before it: the events are read from the running machine.
          stack.defer('record the guest\'s refused connections', async () => {
            const n = await recordEgressEvents(deps, machine, paths.dir);
            if (n > 0) ctx.log(`bot-bottle: smolvm refused ${n} connection(s) from ${plan.slug}'s guest (${join(paths.dir, 'smolvm-egress-events.jsonl')})`);
          });
          trace('smolvm machine ready');
          await ownHome(deps, machine, GUEST_USER, GUEST_HOME);
          await putHomeFiles(deps, machine, spec.setup);
          const probe = probeSpec !== undefined ? startGuestProbe(smolvm.spawn, machine, await probeSpec) : undefined;
          if (probe) stack.defer('stop probe', probe.stop);
          let agent: ChildProcess | undefined;
          let settle: (code: number) => void = () => undefined;
          const exited = new Promise<number>((resolve) => (settle = resolve));
          stack.defer('stop agent', () => {
            if (agent && agent.exitCode === null && agent.signalCode === null) agent.kill('SIGTERM');
          });
          const held: HeldGuest = {
            exited,
            trust: (caPem) => installCa(deps, machine, caPem, GUEST_CA_FILE),
            probe: (ready) => {
              if (!probe) throw new Error('the smolmachines guest was started without the containment probe');
              return probe.inside(ready);
            },
            release() {
              agent = runAgent(smolvm.spawn, machine, spec.setup, ctx.interactive);
              void exitCodeOf(agent).then(settle);
              return Promise.resolve();
            },
          };
          return held;
        },
      };
    },
  };
}
