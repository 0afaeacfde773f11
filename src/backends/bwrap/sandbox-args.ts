import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { UserError } from '../../util/errors.js';
import { GUEST_CA_BUNDLE, GUEST_CA_FILE, GUEST_HOME, GUEST_UID } from '../../provision/layout.js';

/** Host paths the sandbox sees, each read-only unless noted. */
export interface SandboxMounts {
  workspace: string;
  /** This bottle's sidecar sockets, and nothing else of the host's sockets. */
  socketDir: string;
  /** Provisioned home files, copied into the tmpfs home by the init script. */
  seedDir: string;
  caFile: string;
  caBundle: string;
  etcPasswd: string;
  etcGroup: string;
  etcHosts: string;
  initScript: string;
  /** Extra read-only binds, files or folders (an agent program, or its whole npm package, installed outside /usr). */
  extra: Array<{ src: string; dest: string }>;
  /** The agent's own home folders kept across runs (read-write, under the tmpfs home). */
  persist?: Array<{ src: string; dest: string }>;
  /** Symlinks created in the sandbox (`path` -> `target`), e.g. a program's bin link. */
  links?: Array<{ target: string; path: string }>;
}

export const SANDBOX_RUN = '/run/bot-bottle';

/** System folders shared read-only; host /etc is never bound whole (it holds keys and configs). */
const ROOT_LINKS = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];
const ETC_FILES = ['alternatives', 'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'nsswitch.conf', 'localtime', 'ssl/openssl.cnf', 'bash.bashrc', 'profile', 'inputrc', 'terminfo', 'mime.types'];

/**
 * The complete bubblewrap argument list for one bottle. Everything is
 * unshared (user, pid, ipc, uts, cgroup and network: only loopback exists
 * inside); the root is an empty tmpfs made read-only at the end, so the only
 * writable places are the workspace, the tmpfs home and a private /tmp.
 */
export function sandboxArgs(opts: {
  mounts: SandboxMounts;
  env: Record<string, string>;
  hostname: string;
  workdir: string;
  newSession: boolean;
}): string[] {
  const { mounts } = opts;
  const args = ['--unshare-all', '--unshare-user', '--die-with-parent', '--disable-userns', '--uid', String(GUEST_UID), '--gid', String(GUEST_UID), '--hostname', opts.hostname];
  if (opts.newSession) args.push('--new-session');
  args.push('--ro-bind', '/usr', '/usr');
  for (const name of ROOT_LINKS) {
    const path = `/${name}`;
    if (!existsSync(path)) continue;
    if (lstatSync(path).isSymbolicLink()) args.push('--symlink', readlinkSync(path), path);
    else args.push('--ro-bind', path, path);
  }
  for (const name of ETC_FILES) args.push('--ro-bind-try', `/etc/${name}`, `/etc/${name}`);
  args.push(
    '--ro-bind', mounts.etcPasswd, '/etc/passwd',
    '--ro-bind', mounts.etcGroup, '/etc/group',
    '--ro-bind', mounts.etcHosts, '/etc/hosts',
    '--ro-bind', mounts.caBundle, GUEST_CA_BUNDLE,
    '--ro-bind', mounts.caFile, GUEST_CA_FILE,
    '--proc', '/proc',
    '--dev', '/dev',
    '--tmpfs', '/tmp',
    '--tmpfs', '/var/tmp',
    '--tmpfs', '/run',
    '--ro-bind', mounts.socketDir, `${SANDBOX_RUN}/sock`,
    '--ro-bind', mounts.seedDir, `${SANDBOX_RUN}/seed`,
    '--ro-bind', mounts.initScript, `${SANDBOX_RUN}/init.sh`,
    '--perms', '0700', '--tmpfs', GUEST_HOME,
    '--bind', mounts.workspace, opts.workdir,
  );
  for (const dir of mounts.persist ?? []) args.push('--bind', dir.src, dir.dest);
  for (const extra of mounts.extra) args.push('--ro-bind', extra.src, extra.dest);
  for (const link of mounts.links ?? []) args.push('--symlink', link.target, link.path);
  args.push('--remount-ro', '/', '--chdir', opts.workdir, '--clearenv');
  for (const [name, value] of Object.entries(opts.env)) args.push('--setenv', name, value);
  return assertNulFree(args, 'sandbox option');
}

/** What follows the options on bwrap's real command line (bwrap reads only options from --args). */
export function sandboxCommand(command: readonly string[]): string[] {
  return assertNulFree(['--', '/bin/sh', `${SANDBOX_RUN}/init.sh`, ...command], 'agent command argument');
}

/**
 * bwrap reads `--args` as NUL-separated options: a NUL inside one value
 * (`x\0--share-net`) would become options of its own. Values are checked
 * where they enter (manifest schema, CLI flags, secrets); this is the last
 * line, right before the list is joined. The message never shows the value
 * (it may be a secret).
 */
export function assertNulFree<T extends readonly string[]>(args: T, what: string): T {
  const at = args.findIndex((a) => a.includes('\0'));
  if (at >= 0) {
    const previous = at > 0 ? ` (after ${JSON.stringify(args[at - 1])})` : '';
    throw new UserError(`refusing to start the sandbox: ${what} ${at + 1}${previous} contains a NUL character, which would split it into extra bwrap options`);
  }
  return args;
}
