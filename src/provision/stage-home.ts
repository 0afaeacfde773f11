import { mkdirSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { UserError } from '../util/errors.js';
import { copyTree } from '../util/safe-fs.js';
import type { GuestSetup } from './guest.js';
import { GUEST_HOME } from './layout.js';

/**
 * Lay out the provisioned home files and skill copies under `root` as they
 * go under the guest's home, for every backend to bring in its own way (bwrap
 * binds the folder, docker and smolmachines unpack it as the agent). Only
 * paths under the home are written; nothing here is secret.
 */
export function stageHomeFiles(root: string, setup: Pick<GuestSetup, 'files' | 'copies'>): void {
  const target = (guestPath: string): string | undefined => {
    if (!guestPath.startsWith(`${GUEST_HOME}/`)) return undefined;
    const path = join(root, guestPath.slice(GUEST_HOME.length + 1));
    const rel = relative(root, path);
    return rel.length > 0 && !rel.startsWith('..') ? path : undefined;
  };
  for (const file of setup.files) {
    const path = target(file.path);
    if (path === undefined) continue;
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    writeFileSync(path, file.content, { mode: file.mode });
  }
  for (const copy of setup.copies) {
    const path = target(copy.guestPath);
    if (path === undefined) continue;
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    // The skill folder itself may be a link the operator made (skill managers do); inside it,
    // links are copied as links and never followed, so a skill cannot carry host files in.
    const source = realpathSync(copy.hostPath);
    if (!statSync(source).isDirectory()) throw new UserError(`skill ${copy.hostPath} is not a folder`);
    copyTree(source, path);
  }
}
