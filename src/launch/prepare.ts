import { existsSync, mkdirSync } from 'node:fs';
import type { BottlePlan } from '../plan/types.js';
import { writeMetadata } from '../state/metadata.js';
import { fileBottleStores } from '../state/store/index.js';
import { bottleStatePaths, homePaths, queueDir, type BottleStatePaths } from '../state/paths.js';
import { assertNoLinks, removeTree } from '../util/safe-fs.js';
import type { TeardownStack } from './teardown.js';
import { copyWorkspace, describeIgnored } from './workspace-copy.js';

/**
 * Create the bottle's state on the host: metadata for `resume`, the
 * workspace (a copy of the cwd the first time, without what git ignores,
 * kept afterwards), and the live routes file egress serves. State is kept
 * after the bottle stops (unless the plan says `removeAtExit`);
 * `created` gets the undo of what this call made, which the caller runs only
 * when the start fails (a new bottle's state folder and queue go; a resumed
 * bottle's workspace never does).
 */
export async function prepareState(plan: BottlePlan, home: string, cwd: string, created?: TeardownStack, log?: (line: string) => void): Promise<BottleStatePaths> {
  const paths = bottleStatePaths(plan.slug, home);
  const { stateRoot, queueRoot } = homePaths(home);
  // The state folder is hostile input too: nothing below the state root may be a link (the atomic
  // writer would even write through one, to keep it a link).
  for (const path of [paths.workspace, paths.runDir, paths.metadata, paths.egressRoutes]) assertNoLinks(stateRoot, path);
  const queue = queueDir(plan.slug, home);
  if (!existsSync(queue)) created?.defer('remove the new queue folder', () => removeTree(queueRoot, queue));
  if (!existsSync(paths.dir)) {
    mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
    created?.defer('remove the new state folder', () => removeTree(stateRoot, paths.dir));
  }
  await writeMetadata(home, {
    slug: plan.slug,
    agent: plan.agent.name,
    bottles: plan.bottles.names,
    backend: plan.backend,
    cwd,
    copy_cwd: plan.workspace.mode === 'copy',
    label: plan.label,
    color: plan.color,
    started_at: new Date().toISOString(),
    ...(plan.removeAtExit ? { remove_at_exit: true } : {}),
    // A resumed committed bottle stays committed: the next resume boots from the same snapshot.
    ...(plan.provider.snapshot ? { snapshot: { image: plan.provider.snapshot.image, id: plan.provider.snapshot.id, committed_at: plan.provider.snapshot.committedAt } } : {}),
  });
  if (!existsSync(paths.workspace)) {
    created?.defer('remove the new workspace', () => removeTree(stateRoot, paths.workspace));
    if (plan.workspace.mode === 'copy' && plan.workspace.source) {
      // A copy, not a bind: the agent can wreck its workspace but never the operator's checkout.
      // Links are copied as links (never dereferenced): a repo's link to a host file stays a
      // link, which resolves inside the bottle, where host files are not.
      const ignored = copyWorkspace(plan.workspace.source, paths.workspace);
      log?.(`bot-bottle: ${describeIgnored(plan.workspace.source, ignored)}`);
    } else {
      mkdirSync(paths.workspace, { recursive: true });
    }
  }
  mkdirSync(paths.runDir, { recursive: true, mode: 0o700 });
  // Through the one routes store egress also reads (src/state/store): never a second writer of its own.
  const routes = fileBottleStores(paths).routes;
  await routes.writeLive([...plan.sidecars.egress.routes, ...(await routes.readApproved())]);
  return paths;
}
