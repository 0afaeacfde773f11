import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { bottleStatePaths, homePaths, type BottleStatePaths } from '../state/paths.js';
import { PidRecord } from '../state/pids.js';
import { removeTree } from '../util/safe-fs.js';
import type { TeardownStack } from './teardown.js';

/**
 * A launch's run folder, made afresh (whatever a crashed run left is removed,
 * never through a link) and removed by the teardown stack, with the record
 * of the launch's processes in it (`list`, `stop` and `cleanup` read their
 * identities, never a bare pid). Every backend's boundary starts here.
 */
export function freshRunFolder(slug: string, home: string, stack: TeardownStack, mode = 0o700): { paths: BottleStatePaths; run: string; pids: PidRecord } {
  const paths = bottleStatePaths(slug, home);
  const stateRoot = homePaths(home).stateRoot;
  const run = paths.runDir;
  removeTree(stateRoot, run);
  mkdirSync(run, { recursive: true, mode });
  stack.defer('remove run folder', () => removeTree(stateRoot, run));
  return { paths, run, pids: new PidRecord(join(run, 'pids.json')) };
}
