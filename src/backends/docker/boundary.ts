import { registered, settled } from '../../launch/concurrent.js';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BottlePlan } from '../../plan/types.js';
import { GUEST_UID } from '../../provision/layout.js';
import { readMetadata, writeMetadata } from '../../state/metadata.js';
import { queueDir } from '../../state/paths.js';
import { chownTree } from '../../util/safe-fs.js';
import { trace } from '../../util/trace.js';
import type { Boundary, BoundaryContext, HeldGuest } from '../types.js';
import { DockerError } from './cli.js';
import { attachDockerBundle, bundleBinds, bundleGuestEndpoints, bundleListeners, createDockerBundle, DOCKER_STANDBY_FLAG, upstreamCaBind, type AttachedBundle } from './bundle.js';
import { claimStandby, standbyBinds, type ClaimedStandby, type StandbyShape } from './standby.js';
import { spawnStandbyHelper } from './standby-helper.js';
import { engineSocket } from './engine.js';
import { standbyWanted } from '../../launch/standby.js';
import { assertLocalBridge, blockBridgeToHost } from './firewall.js';
import { bridgeName } from './names.js';
import { exitCode, guestExec } from './guest-exec.js';
import { copyGuestFiles, copyGuestFilesBeforeStart, createAgentContainer, guestCaBinds, guestCaFiles, startAgentContainer, trustGuestCa } from './guest.js';
import { ensureSidecarsImage } from './images.js';
import { agentImageFor } from './snapshot.js';
import { createEgressNetwork, createInternalNetwork } from './network.js';
import { dockerProbe, dockerProbeCommand, dockerProbeTargets, probeBinds } from './probe.js';
import { startAttached, type AttachedIo } from './attach.js';
import type { RuntimeChoice } from './runtime.js';
import { freshRunFolder } from '../../launch/run-folder.js';

/**
 * One docker bottle's boundary: the sidecar bundle is a container on the
 * bottle's internal network (alias `sidecars`) and its egress network; the
 * agent is a container on the internal network only, held (`sleep infinity`)
 * until the launcher runs the agent in it with `docker exec`. The internal
 * bridge reaches nothing on the host (a firewall rule; the launch refuses
 * where it cannot add it). The bundle's secrets are the first line on its
 * stdin: never a file on the host, never its environment, argv or `docker
 * inspect`.
 *
 * `materialise` makes everything that does not run yet, as much of it at
 * once as the order allows (images and both networks together; the rule,
 * the agent container and the bundle container together); the orchestrator
 * then starts the bundle and the agent container side by side.
 */
export async function dockerBoundary(plan: BottlePlan, ctx: BoundaryContext, runtime: RuntimeChoice): Promise<Boundary> {
  const stack = ctx.teardown;
  // Its pids.json holds the launching CLI's identity: `stop` asks it first, `cleanup` tells a live bottle from an orphan by it.
  const { paths, run } = freshRunFolder(plan.slug, ctx.home, stack);
  // The bundle's queue is bound into its container, so it must exist first (prepareState removes a new one on failure).
  mkdirSync(queueDir(plan.slug, ctx.home), { recursive: true, mode: 0o700 });
  const configFile = join(run, 'sidecars.json');
  const caCertOut = join(run, 'ca.pem');
  const asRoot = process.getuid?.() === 0;
  // Which runtime this bottle ran under is part of its record (`info`, `resume`).
  await writeMetadata(ctx.home, { ...readMetadata(ctx.home, plan.slug), docker_runtime: runtime.runtime });

  // Docker standbys (standby.ts): a bundle and its networks made before this launch asked. Not for a bottle with
  // git-gate repos (their deploy keys are bound into the bundle at its creation).
  const wantStandby = standbyWanted(ctx.hostEnv) && plan.sidecars.gitGate.repos.length === 0 && engineSocket(ctx.hostEnv) !== undefined;
  // Registered first, so it runs last: the next launch's standby is made once everything of this one is gone.
  if (wantStandby) stack.defer('start the next docker standby', () => void spawnStandbyHelper(ctx.home, ctx.hostEnv));
  let claimed: ClaimedStandby | undefined;
  let attachedBundle: AttachedBundle | undefined;
  const sidecars = {
    async start(opts: Parameters<Boundary['sidecars']['start']>[0]) {
      if (attachedBundle === undefined) throw new Error('the docker bundle was started before the bottle was materialised');
      // The bundle's node is already up (materialise started it), waiting for the secrets line; it reads the config after it.
      writeFileSync(configFile, `${JSON.stringify(opts.config, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      // Knobs and secrets alike go on its stdin: a container's environment is in `docker inspect`.
      const bundle = await attachedBundle.handOver({ caCertOut, secrets: { ...opts.settings, ...opts.secrets }, logFile: opts.logFile, ...(claimed !== undefined ? { configLine: configFile } : {}) });
      const attached = attachedBundle;
      // What only the bundle's command line holds, for the check that no process of it shows inside: a standby's
      // has no config path on it, but its own flag.
      const markers = claimed !== undefined ? [configFile, DOCKER_STANDBY_FLAG] : [configFile];
      return { caPem: bundle.caPem, died: bundle.died, hostProcessMarkers: markers, startMs: bundle.ready.startMs, warm: () => attached.warm() };
    },
  };

  return {
    sidecars,
    ...(asRoot ? { agentDirOwner: GUEST_UID } : {}),
    endpoints({ gitGate }) {
      return { listen: bundleListeners(), caCertOut, guest: bundleGuestEndpoints(gitGate), probe: dockerProbeTargets(gitGate) };
    },
    async materialise(spec) {
      const imageOptions = { env: ctx.hostEnv, ...(ctx.hostEnv.PATH !== undefined ? { pathVar: ctx.hostEnv.PATH } : {}) };
      const probeFiles = spec.probe ? probeBinds() : [];
      const caFiles = guestCaFiles(run);
      const upstreamCa = upstreamCaBind(ctx.hostEnv);
      const sidecarsImage = ensureSidecarsImage(imageOptions);
      // Its commit snapshot when resumed from one, else the image cascade (snapshot.ts decides).
      const agentImageId = agentImageFor(plan, { ...imageOptions, log: ctx.log }).then((image) => image.id);
      for (const p of [sidecarsImage, agentImageId]) void p.catch(() => undefined); // awaited below
      if (wantStandby) {
        const shape: StandbyShape = { image: (await sidecarsImage).id, runtime: runtime.bundle, binds: standbyBinds(ctx.home, upstreamCa), hostEnv: ctx.hostEnv };
        claimed = await claimStandby(ctx.home, plan.slug, shape, stack);
        trace(claimed !== undefined ? 'docker standby taken' : 'no docker standby waiting');
      }
      // The rule's undo is registered before the networks' and the containers', so it runs after they are
      // gone: the bridge is never open to the host while anything of the bottle (a process the agent left) runs.
      let rule: { undo: () => Promise<void> } | undefined;
      // Added while the engine creates the network: the bridge's name is ours (names.ts), so the rule can name it
      // first, and nothing runs on the network before both exist. A standby's was added before its networks were made.
      const ruleAdded = claimed !== undefined ? Promise.resolve() : blockBridgeToHost(plan.slug, bridgeName(plan.slug, 'internal'), { beforeBridgeExists: true }).then((added) => {
        rule = added;
        trace('docker host firewall rule added');
      });
      void ruleAdded.catch(() => undefined); // awaited below
      // A failure elsewhere may unwind while the rule is still being added: wait for it, then remove it.
      if (claimed === undefined) {
        stack.defer('remove host firewall rule', async () => {
          await ruleAdded.catch(() => undefined);
          await rule?.undo();
        });
      }
      // With the check, the probe is the container's first process and talks over the attachment (guest.ts).
      let agentStarting: Promise<AttachedIo | undefined> | undefined;
      const taken = claimed;
      const [image, agentImage, internal, egress] = await settled([
        sidecarsImage,
        agentImageId,
        taken !== undefined ? Promise.resolve(taken.internal) : registered(createInternalNetwork(plan.slug, ctx.hostEnv), (n) => stack.defer('remove internal network', n.undo)),
        taken !== undefined ? Promise.resolve(taken.egress) : registered(createEgressNetwork(plan.slug, ctx.hostEnv), (n) => stack.defer('remove egress network', n.undo)),
      ] as const);
      trace('docker images and networks ready');
      const expectedBridge = bridgeName(taken?.id ?? plan.slug, 'internal');
      if (internal.bridge !== expectedBridge) throw new DockerError(`the internal network of ${plan.slug} has bridge ${internal.bridge ?? '(none)'}, not the one its firewall rule names`);
      assertLocalBridge(internal.bridge);
      if (asRoot) {
        // The agent runs as uid 1000: the workspace and its own folders are lent to it for the run
        // and given back (set-id bits dropped) once its container is gone (registered first, so it runs last).
        stack.defer('give the workspace back to its owner', () => chownTree(paths.workspace, process.getuid?.() ?? 0, process.getgid?.() ?? 0, { clearSetId: true }));
        chownTree(paths.workspace, GUEST_UID, GUEST_UID);
        for (const dir of spec.persisted) chownTree(dir.hostPath, GUEST_UID, GUEST_UID);
      }
      // A snapshot's home is the agent's own work (links it planted included): its files go in as the agent, after start.
      const copyBeforeStart = plan.provider.snapshot === undefined;
      const [agent, bundle] = await settled([
        createAgentContainer({
          slug: plan.slug,
          image: agentImage,
          runtime: runtime.runtime,
          network: internal.name,
          ...(internal.addressing !== undefined ? { addressing: internal.addressing } : {}),
          ...(taken !== undefined ? { joinNetns: taken.netns } : {}),
          workspace: { hostPath: paths.workspace, guestPath: plan.workspace.guestPath },
          persist: [...spec.persisted],
          readOnly: [...probeFiles, ...guestCaBinds(caFiles)],
          ...(spec.probe ? { probe: dockerProbeCommand() } : {}),
          teardown: stack,
        }).then(async (created) => {
          if (copyBeforeStart) await copyGuestFilesBeforeStart(created.id, spec.setup);
          await taken?.verified;
          // Started as soon as its home is in and the bridge is closed to the host, not once the bundle
          // is attached too: a container's start (~300 ms under runc) is the longest step of the launch.
          // It holds (`sleep infinity`); nothing of the agent runs before release.
          await ruleAdded;
          agentStarting = spec.probe ? startAttached(created.id) : startAgentContainer(created.id).then(() => undefined);
          void agentStarting.catch(() => undefined); // awaited by start(); a failure before that must not be unhandled
          // Detached at teardown, before the container's own removal (the probe's end leaves it holding).
          stack.defer('detach from the agent container', async () => (await agentStarting?.catch(() => undefined))?.kill());
          return created;
        }),
        taken !== undefined
          ? // Its node has been up and warm since the standby was made; attached now, it waits for its secrets line.
            taken.verified.then(() => attachDockerBundle(taken.container, stack, { running: true }))
          : createDockerBundle({
              slug: plan.slug,
              image: image.id,
              runtime: runtime.bundle,
              internal,
              egress,
              configFile,
              binds: [...bundleBinds({ gitGate: { repos: plan.sidecars.gitGate.repos } }, { stateDir: paths.dir, queueDir: queueDir(plan.slug, ctx.home) }), ...upstreamCa],
              warmOnStdin: true,
              teardown: stack,
            }).then(async (created) => {
              // Started as soon as it and the host rule exist: its node's start-up and module loading
              // (the slow part under gVisor) overlap the agent's container; it waits for its secrets line.
              await ruleAdded;
              return attachDockerBundle(created, stack);
            }),
        ruleAdded,
      ] as const);
      attachedBundle = bundle;
      trace('docker containers created');
      return {
        async start(probeSpec) {
          const io = await (agentStarting ?? startAgentContainer(agent.id).then(() => undefined));
          trace('docker agent container started');
          const copying = copyBeforeStart ? Promise.resolve() : copyGuestFiles(agent.id, spec.setup);
          // The probe is already starting (the container's first process); it gets its spec (and so looks at
          // anything) only once the files are in.
          if (probeSpec !== undefined && io === undefined) throw new DockerError('the docker guest was created without the containment probe it is asked to run');
          const probe = probeSpec !== undefined && io !== undefined ? dockerProbe(io, copying.then(() => probeSpec)) : undefined;
          if (probe) stack.defer('stop probe', probe.stop);
          await copying;
          let agentRun: ChildProcess | undefined;
          let settle: (code: number) => void = () => undefined;
          const exited = new Promise<number>((resolve) => (settle = resolve));
          stack.defer('stop agent', () => {
            if (agentRun && agentRun.exitCode === null && agentRun.signalCode === null) agentRun.kill('SIGKILL');
          });
          const held: HeldGuest = {
            exited,
            trust: (caPem) => Promise.resolve().then(() => trustGuestCa(caFiles, caPem)),
            probe: (ready) => {
              if (!probe) throw new Error('the docker guest was started without the containment probe');
              return probe.inside({ ...ready, runtime: runtime.runtime });
            },
            async release() {
              const { setup } = spec;
              agentRun = await guestExec(agent.id, { argv: setup.command, env: setup.env, workdir: setup.workdir, ...(ctx.interactive ? { tty: true } : { inheritOutput: true }) });
              void exitCode(agentRun).then(settle, () => settle(1));
            },
          };
          return held;
        },
      };
    },
  };
}
