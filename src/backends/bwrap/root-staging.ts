import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TeardownStack } from '../../launch/teardown.js';
import { UserError } from '../../util/errors.js';
import type { SandboxMounts } from './sandbox-args.js';

/** The host uid a root-started sandbox runs as. */
export const SANDBOX_HOST_UID = 65534;
export const STAGE_ROOT = '/run/bot-bottle';
/** The only variable bwrap (and so the sandbox's pid 1) gets: fixed, nothing of the operator's. */
export const STAGE_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * As root, bwrap must run as an unprivileged uid, but that uid cannot reach
 * files under /root. So the bottle's folders are bind-mounted onto a
 * traversable staging folder inside a private mount namespace (`unshare -m`)
 * that only this sandbox sees, then privileges are dropped with setpriv.
 */
export function rootStaging(slug: string, mounts: SandboxMounts, stack: TeardownStack): { mounts: SandboxMounts; prefix: string[] } {
  mkdirSync(STAGE_ROOT, { recursive: true, mode: 0o711 });
  // Unique per launch: two runs must never share mount points, even for the same slug.
  const stage = mkdtempSync(join(STAGE_ROOT, `${slug}-`));
  chmodSync(stage, 0o711);
  stack.defer('remove staging folder', () => rmSync(stage, { recursive: true, force: true }));
  const binds: Array<[string, string]> = [];
  const stageDir = (name: string, src: string, isDir: boolean): string => {
    const target = join(stage, name);
    // A bind needs a mount point of its own kind: a folder for a folder, an empty file for a file.
    if (isDir) mkdirSync(target, { mode: 0o711 });
    else closeSync(openSync(target, 'wx', 0o644));
    binds.push([src, target]);
    return target;
  };
  const staged: SandboxMounts = {
    workspace: stageDir('workspace', mounts.workspace, true),
    socketDir: stageDir('sock', mounts.socketDir, true),
    seedDir: stageDir('seed', mounts.seedDir, true),
    // Small files live in the run folder: stage the folder once and point into it.
    caFile: '',
    caBundle: '',
    etcPasswd: '',
    etcGroup: '',
    etcHosts: '',
    initScript: '',
    extra: [],
    links: mounts.links ?? [],
  };
  staged.persist = (mounts.persist ?? []).map((d, i) => ({ src: stageDir(`persist${i}`, d.src, true), dest: d.dest }));
  const runDir = stageDir('run', dirOf(mounts.initScript), true);
  for (const key of ['caFile', 'caBundle', 'etcPasswd', 'etcGroup', 'etcHosts', 'initScript'] as const) {
    staged[key] = join(runDir, baseOf(mounts[key]));
  }
  // An agent program outside /usr (e.g. ~/.local/bin/claude, a 245 MB single binary) may sit in a
  // folder the sandbox uid cannot traverse: it is bound onto the staging folder like the rest, never
  // copied, so a launch writes nothing for it and an exit leaves nothing behind.
  staged.extra = mounts.extra.map((e, i) => {
    const stats = statSync(e.src);
    // The sandbox uid is "other" to the program (a bind cannot lend it ownership): it needs o+rx.
    if ((stats.mode & 0o005) !== 0o005) {
      throw new UserError(`${e.src} is not readable and executable by other users, so a bottle started by root (host uid ${SANDBOX_HOST_UID} inside) cannot run it: chmod o+rx it, or install it under /usr`);
    }
    return { src: stageDir(`extra${i}`, e.src, stats.isDirectory()), dest: e.dest };
  });
  // One `mount -a` over a table of the binds, not one `mount --bind` per bind: each mount process loads
  // libmount and friends (~2 ms), and the binds are on the way to the containment probe's start.
  const table = join(stage, 'binds.fstab');
  writeFileSync(table, binds.map(([src, target]) => `${fstabField(src)} ${fstabField(target)} none bind 0 0\n`).join(''), { mode: 0o600, flag: 'wx' });
  const prefix = [
    'unshare', '--mount', '--propagation', 'private', '--',
    // `env -i`: the shell exports PWD (the operator's cwd), and bwrap's pid-1 reaper inside the
    // sandbox keeps bwrap's environment, readable there as /proc/1/environ.
    '/bin/sh', '-c', `mount -a -T "$1" && shift && exec env -i PATH=${STAGE_PATH} "$@"`, 'bot-bottle-stage', table,
    'setpriv', `--reuid=${SANDBOX_HOST_UID}`, `--regid=${SANDBOX_HOST_UID}`, '--clear-groups', '--no-new-privs',
  ];
  return { mounts: staged, prefix };
}

/** A path as an fstab field: whitespace and backslash as octal escapes (fstab(5)), which mount reads back. */
export function fstabField(path: string): string {
  return path.replace(/[ \t\n\r\v\f\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}

function baseOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
