import { lstatSync } from 'node:fs';
import type { TeardownStack } from '../../launch/teardown.js';
import { chownTree } from '../../util/safe-fs.js';
import { SANDBOX_HOST_UID } from './root-staging.js';

/**
 * As root the sandbox runs as host uid 65534 (mapping it to host root would
 * make every root-owned file it can reach its own), so the workspace is lent
 * to that uid for the run and given back to the operator when the sandbox is
 * gone: the operator finds every file, the agent's too, owned by themselves.
 * Both walks are lchown-only and never leave the tree (src/util/safe-fs.ts):
 * a link the agent or a repository planted changes, never its target. The
 * way back also drops set-id bits, so nothing the agent wrote becomes a
 * set-id program of the operator.
 */
export function lendWorkspace(workspace: string, stack: TeardownStack): void {
  // Registered first: a lend that fails half-way is given back too. The sandbox's own undo is
  // registered later, so it has stopped (its whole pid namespace) before this runs.
  stack.defer('give the workspace back to its owner', () => returnWorkspace(workspace));
  chownTree(workspace, SANDBOX_HOST_UID, SANDBOX_HOST_UID);
}

export function returnWorkspace(workspace: string): void {
  chownTree(workspace, process.getuid?.() ?? 0, process.getgid?.() ?? 0, { clearSetId: true });
}

/** A workspace still lent after its bottle stopped (the CLI was killed): `cleanup` gives it back. */
export function workspaceLent(workspace: string): boolean {
  try {
    const stats = lstatSync(workspace);
    return stats.isDirectory() && stats.uid === SANDBOX_HOST_UID && process.getuid?.() === 0;
  } catch {
    return false;
  }
}
