import { cpSync, existsSync, mkdirSync } from 'node:fs';
import writeFileAtomic from 'write-file-atomic';
import { array } from 'zod/mini';
import { EgressRoutePlanSchema, type EgressRoutePlan } from '../plan/egress-route.js';
import type { BottlePlan } from '../plan/types.js';
import { writeMetadata } from '../state/metadata.js';
import { bottleStatePaths, type BottleStatePaths } from '../state/paths.js';
import { readJsonFile } from '../util/json-file.js';

/**
 * Create the bottle's state on the host: metadata for `resume`, the
 * workspace (a copy of the cwd the first time, kept afterwards), and the
 * live routes file egress serves. State is kept after the bottle stops.
 */
export async function prepareState(plan: BottlePlan, home: string, cwd: string): Promise<BottleStatePaths> {
  const paths = bottleStatePaths(plan.slug, home);
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
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
  });
  if (!existsSync(paths.workspace)) {
    if (plan.workspace.mode === 'copy' && plan.workspace.source) {
      // A copy, not a bind: the agent can wreck its workspace but never the operator's checkout.
      cpSync(plan.workspace.source, paths.workspace, { recursive: true, verbatimSymlinks: true });
    } else {
      mkdirSync(paths.workspace, { recursive: true });
    }
  }
  mkdirSync(paths.runDir, { recursive: true, mode: 0o700 });
  await writeRoutes(paths.egressRoutes, [...plan.sidecars.egress.routes, ...readApprovedRoutes(paths)]);
  return paths;
}

/** Routes the operator approved earlier through supervise; `resume` keeps them. */
export function readApprovedRoutes(paths: BottleStatePaths): EgressRoutePlan[] {
  if (!existsSync(paths.approvedRoutes)) return [];
  return readJsonFile(paths.approvedRoutes, array(EgressRoutePlanSchema), 'approved routes (fix or delete it)');
}

async function writeRoutes(file: string, routes: EgressRoutePlan[]): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(routes, null, 2)}\n`, { mode: 0o600 });
}
