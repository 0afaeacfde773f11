import { copyFileSync, linkSync, lstatSync, mkdirSync, readlinkSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { walkTree } from '../../util/safe-fs.js';

/**
 * Build contexts are staged in a fresh folder: only what the Dockerfile
 * copies is sent to the engine. Files are hard-linked where the file system
 * allows (a 400 MB agent binary costs nothing to stage), copied otherwise;
 * links stay links; a tree never leaves its file system.
 */
export function stageFile(src: string, dest: string): void {
  mkdirSync(dirname(dest), { recursive: true });
  try {
    linkSync(src, dest);
  } catch {
    // Another file system, or protected_hardlinks for a file this user does not own.
    copyFileSync(src, dest);
  }
}

export function stageTree(src: string, dest: string): void {
  const top = lstatSync(src);
  walkTree(src, (path, stats) => {
    const target = join(dest, relative(src, path));
    if (stats.isDirectory()) {
      if (stats.dev === top.dev) mkdirSync(target, { recursive: true, mode: (stats.mode & 0o777) | 0o700 });
    } else if (stats.isSymbolicLink()) {
      symlinkSync(readlinkSync(path), target);
    } else if (stats.isFile()) {
      stageFile(path, target);
    }
  });
}
