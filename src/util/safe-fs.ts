import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';

/**
 * File-tree operations for folders an agent or a repository has written
 * (workspaces, state folders, skills). None of them ever follows a symbolic
 * link or leaves the tree through one: a link is an entry like any other,
 * handled as the link itself. They never descend into another file system
 * either (a mount point inside the tree is left alone).
 *
 * Path-based calls on entries found by the walk are safe only while nothing
 * else changes the tree; callers run them when the bottle is not running.
 */

/**
 * Throws unless `path` is `base` or below it and no component below `base` is
 * a symbolic link (`base` itself is the operator's layout, e.g. a linked home).
 */
export function assertNoLinks(base: string, path: string): void {
  const rel = relative(base, path);
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw new Error(`${path} is not inside ${base}`);
  let current = base;
  for (const part of rel.split(sep).filter((p) => p.length > 0)) {
    current = join(current, part);
    let stats: Stats;
    try {
      stats = lstatSync(current);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    if (stats.isSymbolicLink()) throw new Error(`${current} is a symbolic link; bot-bottle never follows links in its state (remove it)`);
  }
}

/** Throws unless `path` below `base` is a regular file reached without links (a FIFO would hang a read). */
export function assertPlainFile(base: string, path: string): void {
  assertNoLinks(base, path);
  if (!lstatSync(path).isFile()) throw new Error(`${path} is not a regular file (remove it)`);
}

/**
 * Visit every entry below `root` (root first), never following links or
 * crossing file systems. A folder for which `visit` returns false is not
 * entered.
 */
export function walkTree(root: string, visit: (path: string, stats: Stats) => unknown): void {
  const top = lstatSync(root);
  if (!top.isDirectory()) throw new Error(`${root} is not a folder${top.isSymbolicLink() ? ' (it is a symbolic link)' : ''}`);
  if (visit(root, top) === false) return;
  const pending = [root];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      let stats: Stats;
      try {
        stats = lstatSync(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      if (visit(path, stats) === false) continue;
      if (stats.isDirectory() && stats.dev === top.dev) pending.push(path);
    }
  }
}

/**
 * Give every entry of a tree to `uid:gid` with lchown (a link changes, never
 * its target). `clearSetId` also drops set-user/group-id bits from regular
 * files, through a descriptor opened without following links: a file the
 * agent made must never become a set-id program of the operator.
 */
export function chownTree(root: string, uid: number, gid: number, opts: { clearSetId?: boolean } = {}): number {
  let changed = 0;
  walkTree(root, (path, stats) => {
    if (stats.uid !== uid || stats.gid !== gid) {
      lchownSync(path, uid, gid);
      changed++;
    }
    if (opts.clearSetId && stats.isFile() && (stats.mode & 0o6000) !== 0) {
      const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      try {
        const now = fstatSync(fd);
        if (now.isFile()) fchmodSync(fd, now.mode & 0o777);
      } finally {
        closeSync(fd);
      }
    }
  });
  return changed;
}

/**
 * Copy a tree: folders and regular files (read through O_NOFOLLOW, modes
 * without set-id bits), links recreated as the same links (they resolve, if
 * at all, inside the bottle), anything else (FIFOs, sockets, devices) skipped.
 * `skip` leaves out an entry (a folder with all it holds) by its path
 * relative to `src`. `dest` must not exist. An error names its destination in
 * `dest`, as cpSync's do (a full disk is reported with it).
 */
export function copyTree(src: string, dest: string, opts: { skip?: (relativePath: string) => boolean } = {}): void {
  const base = lstatSync(src);
  if (!base.isDirectory()) throw new Error(`${src} is not a folder`);
  walkTree(src, (path, stats) => {
    const rel = relative(src, path);
    if (rel !== '' && opts.skip?.(rel) === true) return false;
    const target = join(dest, rel);
    try {
      if (stats.isDirectory()) {
        if (stats.dev !== base.dev) return false;
        mkdirSync(target, { mode: (stats.mode & 0o777) | 0o700 });
      } else if (stats.isSymbolicLink()) {
        symlinkSync(readlinkSync(path), target);
      } else if (stats.isFile()) {
        copyFileNoFollow(path, target, stats.mode & 0o777);
      }
    } catch (err) {
      if (typeof err === 'object' && err !== null && !('dest' in err)) Object.assign(err, { dest: target });
      throw err;
    }
    return true;
  });
}

function copyFileNoFollow(src: string, dest: string, mode: number): void {
  const input = openSync(src, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    if (!fstatSync(input).isFile()) return;
    const output = openSync(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
    try {
      const buffer = Buffer.allocUnsafe(64 * 1024);
      for (let n = readSync(input, buffer); n > 0; n = readSync(input, buffer)) {
        for (let off = 0; off < n; ) off += writeSync(output, buffer, off, n - off);
      }
    } finally {
      closeSync(output);
    }
  } finally {
    closeSync(input);
  }
}

/**
 * Remove `path` (a folder or a file below `base`) and everything in it. A
 * link is removed as a link; a path that reaches its place through a link
 * is refused, so a planted link can never redirect the removal.
 */
export function removeTree(base: string, path: string): void {
  assertNoLinks(base, path);
  rmSync(path, { recursive: true, force: true });
}

/** Up to `size` bytes from the start of an open file (fewer if it shrank meanwhile). */
export function readOpenFile(fd: number, size: number): Buffer {
  const buf = Buffer.alloc(size);
  let off = 0;
  while (off < buf.length) {
    const n = readSync(fd, buf, off, buf.length - off, off);
    if (n === 0) break;
    off += n;
  }
  return buf.subarray(0, off);
}

/**
 * Read a whole file that must be a regular file, through a descriptor opened
 * without following a link (ELOOP when `path` itself is one) and without
 * blocking on a FIFO. For files in folders something hostile can write.
 */
export function readPlainFileSync(path: string): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    if (!fstatSync(fd).isFile()) throw Object.assign(new Error(`${path} is not a regular file (remove it)`), { code: 'ENOTREG' });
    const chunks: Buffer[] = [];
    const buffer = Buffer.allocUnsafe(64 * 1024);
    for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) chunks.push(Buffer.from(buffer.subarray(0, n)));
    return Buffer.concat(chunks);
  } finally {
    closeSync(fd);
  }
}
