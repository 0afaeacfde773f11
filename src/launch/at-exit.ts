import type { BottlePlan } from '../plan/types.js';
import { readMetadata, writeMetadata } from '../state/metadata.js';
import { bottleStatePaths, homePaths, queueDir } from '../state/paths.js';
import { removeTree } from '../util/safe-fs.js';

/**
 * What happens to a bottle's state once it has run and is torn down. Kept
 * (the default): the stop time is recorded, which `cleanup --state` ages
 * bottles by, and the operator is told how to resume. With `--rm`: the state
 * folder, workspace included, and the queue are deleted, never through a link.
 * Only after a complete teardown: a bottle whose processes may still run
 * keeps its state, and `cleanup` deletes it later (the metadata says --rm).
 */
export async function settleState(plan: BottlePlan, home: string, teardownFailed: boolean, log: (line: string) => void): Promise<void> {
  const paths = bottleStatePaths(plan.slug, home);
  if (plan.removeAtExit) {
    if (teardownFailed) {
      log(`bot-bottle: ${plan.slug} stopped, but not every teardown step worked: its state is kept in ${paths.dir}; \`bot-bottle cleanup\` deletes it (--rm)`);
      return;
    }
    log(`bot-bottle: ${plan.slug} stopped; deleting its state, workspace included (--rm): ${paths.dir}`);
    try {
      const { stateRoot, queueRoot } = homePaths(home);
      removeTree(stateRoot, paths.dir);
      removeTree(queueRoot, queueDir(plan.slug, home));
    } catch (err) {
      log(`bot-bottle: could not delete ${paths.dir}: ${err instanceof Error ? err.message : String(err)}; \`bot-bottle cleanup\` deletes it`);
    }
    return;
  }
  try {
    await writeMetadata(home, { ...readMetadata(home, plan.slug), stopped_at: new Date().toISOString() });
  } catch (err) {
    log(`bot-bottle: could not record when ${plan.slug} stopped: ${err instanceof Error ? err.message : String(err)}`);
  }
  log(`bot-bottle: ${plan.slug} stopped; resume with: bot-bottle resume ${plan.slug}`);
}
