import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchownSync, fstatSync, lchownSync, lstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { BottlePlan } from '../plan/types.js';
import type { GuestFile } from '../provision/guest.js';
import { readOpenFile } from '../util/safe-fs.js';

/**
 * The agent's persisted home folders (e.g. Claude Code's configuration and
 * conversations) live in the bottle's state folder and are written by the
 * agent, so what is in them is hostile: a file may be a symlink to anything
 * on the host, a FIFO, or gigabytes. bot-bottle only ever reads a regular
 * file it opened without following links, and replaces files by renaming a
 * file it created itself into place (a rename replaces a planted symlink, it
 * never writes through it). Only top-level files of a persisted folder are
 * written, so no path component the agent controls is ever followed.
 */

const MAX_READ = 8 * 1024 * 1024;

/** Creates the persisted folders (owned by `owner` when given) and returns them as guest → host. */
export function preparePersistedDirs(plan: BottlePlan, owner?: number): Array<{ hostPath: string; guestPath: string }> {
  const dirs = plan.provider.persist ?? [];
  for (const dir of dirs) {
    mkdirSync(dirname(dir.hostPath), { recursive: true, mode: 0o700 });
    mkdirSync(dir.hostPath, { recursive: true, mode: 0o700 });
    if (!lstatSync(dir.hostPath).isDirectory()) throw new Error(`${dir.hostPath} is not a folder: remove it (it holds the agent's own state)`);
    if (owner !== undefined) lchownSync(dir.hostPath, owner, owner);
  }
  return dirs;
}

/**
 * Writes the provisioned files that belong in a persisted folder there (JSON
 * merges over what the agent left), and returns the rest for the fresh home.
 */
export function writePersistedFiles(dirs: ReadonlyArray<{ hostPath: string; guestPath: string }>, files: readonly GuestFile[], owner?: number): GuestFile[] {
  const rest: GuestFile[] = [];
  for (const file of files) {
    const dir = dirs.find((d) => file.path.startsWith(`${d.guestPath}/`));
    if (!dir) {
      rest.push(file);
      continue;
    }
    const name = file.path.slice(dir.guestPath.length + 1);
    if (name.includes('/') || name === '.' || name === '..') throw new Error(`provisioned file ${file.path} must sit directly in ${dir.guestPath}`);
    const content = file.merge === 'json' ? mergeJsonLayers(file.defaults, readAgentFile(join(dir.hostPath, name)), file.content) : file.content;
    replaceAgentFile(dir.hostPath, name, content, file.mode, owner);
  }
  return rest;
}

/** A regular file's text, or undefined when it is absent, a symlink, not a regular file or too large. */
export function readAgentFile(path: string): string | undefined {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO the agent planted must not hang the launch.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > MAX_READ) return undefined;
    return readOpenFile(fd, st.size).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Creates a new file beside `name` (never following a link) and renames it over whatever `name` is. */
export function replaceAgentFile(dir: string, name: string, content: string, mode: number, owner?: number): void {
  const tmp = join(dir, `.${basename(name)}.bot-bottle-${randomBytes(6).toString('hex')}`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    writeSync(fd, content);
    if (owner !== undefined) fchownSync(fd, owner, owner);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  const target = join(dir, name);
  // A folder the agent made at this name cannot be renamed over: it goes (rm never follows links out of it).
  if (lstatSafe(target)?.isDirectory()) rmSync(target, { recursive: true, force: true });
  renameSync(tmp, target);
}

function lstatSafe(path: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * `defaults` under what the agent left under `content`: objects merge key by
 * key, anything else is replaced. What the agent left is parsed as untrusted:
 * unreadable or not an object means it starts again from our layers.
 */
export function mergeJsonLayers(defaults: string | undefined, existing: string | undefined, content: string): string {
  let current: unknown = {};
  if (existing !== undefined) {
    try {
      current = JSON.parse(existing);
    } catch {
      current = {};
    }
  }
  if (!isObject(current)) current = {};
  const base = defaults === undefined ? current : deepMerge(JSON.parse(defaults), current);
  return `${JSON.stringify(deepMerge(base, JSON.parse(content)), null, 2)}\n`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function deepMerge(base: unknown, patch: unknown): unknown {
  if (!isObject(base) || !isObject(patch)) return patch;
  const out: Record<string, unknown> = {};
  // defineProperty: a "__proto__" key from JSON is kept as data, never turned into a prototype.
  const set = (k: string, v: unknown): void => void Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  for (const [k, v] of Object.entries(base)) set(k, v);
  for (const [k, v] of Object.entries(patch)) set(k, deepMerge(Object.hasOwn(base, k) ? base[k] : undefined, v));
  return out;
}
