import { join } from 'node:path';
import { ContainmentError, type ContainmentGate } from '../containment/gate.js';
import type { BottlePlan } from '../plan/types.js';
import { provisionGuest } from '../provision/guest.js';
import { bottleStatePaths, homePaths } from '../state/paths.js';
import { trace } from '../util/trace.js';
import { assertNoLinks } from '../util/safe-fs.js';
import { preparePersistedDirs, writePersistedFiles } from './agent-home.js';
import type { Backend, BoundaryContext, LaunchSecrets, RunningBottle } from './boundary.js';
import { bundleSecrets, bundleSettings } from './bundle-secrets.js';
import { sidecarConfig } from './sidecar-config.js';

export interface OrchestrateContext extends BoundaryContext {
  secrets: LaunchSecrets;
  /** The containment self-test: the agent is released only once `verify` passed. */
  containment: ContainmentGate;
}

/**
 * The one launch sequence, for every backend, on state `prepareState` made:
 * boundary prepared → bundle config and guest provisioned → guest
 * materialised → guest started held, and beside it the bundle started (the
 * probe's bundle-free checks overlap the bundle's start) → bundle ready → CA
 * into the guest → containment verified → agent released. Every resource is
 * registered on `ctx.teardown` by whoever creates it, the moment it exists;
 * the caller unwinds the stack on failure and when the agent ends.
 */
export async function launchBottle(plan: BottlePlan, backend: Backend, ctx: OrchestrateContext): Promise<RunningBottle> {
  const paths = bottleStatePaths(plan.slug, ctx.home);
  const { teardown, containment } = ctx;
  const boundary = await backend.boundary(plan, { teardown, log: ctx.log, home: ctx.home, hostEnv: ctx.hostEnv, interactive: ctx.interactive });
  const endpoints = boundary.endpoints({ gitGate: plan.sidecars.gitGate.repos.length > 0 });
  const config = sidecarConfig(plan, paths, ctx.home, endpoints.listen, endpoints.caCertOut);
  // Provision first: a missing skill or agent program fails before anything is started.
  const setup = provisionGuest(plan, endpoints.guest, ctx.secrets, { term: ctx.hostEnv.TERM });
  // The agent's own folders (Claude's settings and conversations) persist in the state folder, and the
  // agent wrote them last run: never create, write or bind through a link it planted.
  for (const dir of plan.provider.persist ?? []) assertNoLinks(homePaths(ctx.home).stateRoot, dir.hostPath);
  const persisted = preparePersistedDirs(plan, boundary.agentDirOwner);
  setup.files = writePersistedFiles(persisted, setup.files, boundary.agentDirOwner);
  const prepared = await boundary.materialise({ setup, persisted, probe: containment.enabled });

  teardown.defer('close containment canaries', () => containment.dispose());
  // The canaries open while the guest starts: the probe gets its first spec line (which names them) only once
  // they listen, and its node start takes longer than that.
  const early = containment.enabled ? containment.begin(endpoints.probe) : undefined;
  void early?.catch(() => undefined); // awaited below; a failure before that must not be an unhandled rejection
  // The guest first, the bundle right after, neither awaited before the other: the probe's start inside the
  // guest (a node process) is the longer of the two, and its checks that need no bundle run meanwhile.
  const guestStarting = prepared.start(early);
  void guestStarting.catch(() => undefined); // awaited below; a failure before that must not be an unhandled rejection
  const starting = boundary.sidecars.start({
    config,
    secrets: bundleSecrets(ctx.hostEnv, ctx.secrets),
    settings: bundleSettings(ctx.hostEnv),
    logFile: join(paths.dir, 'sidecars.log'),
    teardown,
  });
  void starting.catch(() => undefined); // awaited below; a failure before that must not be an unhandled rejection
  const guest = await guestStarting;
  trace('guest provisioned');
  await early;

  const bundle = await starting;
  trace(`sidecars ready${bundleMarks(bundle.startMs)}`);
  await guest.trust(bundle.caPem);
  // The agent starts only once the gate has judged what the probe saw from inside.
  if (containment.enabled) await containment.verify(guest.probe(bundle));
  // Fail closed: whatever happened above, an enabled gate that did not pass never hands the bottle over.
  if (containment.enabled && !containment.verified) throw new ContainmentError(`the ${backend.name} backend started ${plan.slug} without the containment check; refusing to hand it over`);
  await guest.release();
  bundle.warm?.();
  return { slug: plan.slug, exited: guest.exited, failed: bundle.died };
}

/** The bundle's own start-up milestones (its ready line's `startMs`), for the trace. */
function bundleMarks(marks: unknown): string {
  if (typeof marks !== 'object' || marks === null) return '';
  return ` (bundle ms since its start: ${Object.entries(marks).map(([k, v]) => `${k} ${String(v)}`).join(', ')})`;
}
