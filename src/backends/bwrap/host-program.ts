import { accessSync, closeSync, constants, existsSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { basename, delimiter, dirname, join, relative, sep } from 'node:path';
import { UserError } from '../../util/errors.js';

/** Where host programs installed outside /usr appear inside the sandbox. */
export const GUEST_PROGRAM_BIN = '/opt/bot-bottle/bin';
export const GUEST_NODE_MODULES = '/opt/bot-bottle/lib/node_modules';

/** A read-only bind of a host file or folder into the sandbox. */
export interface ProgramBind {
  src: string;
  dest: string;
}

export interface HostProgram {
  binds: ProgramBind[];
  /** Symlinks to create inside the sandbox (`path` -> `target`). */
  links: Array<{ target: string; path: string }>;
  /** A folder to put first on the agent's PATH. */
  guestDir?: string;
}

/** npm package names as npm itself accepts them (no `..`, no path separators beyond the scope's). */
const PACKAGE_NAME = /^(@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/i;
/** Bound on the dependency walk: a launcher with more hoisted packages than this is not a CLI we know how to carry. */
const MAX_PACKAGES = 200;

/**
 * The bwrap backend runs the agent's program from the host, found on the
 * host's PATH in the operator's order. Programs under /usr are already
 * visible. A single binary installed elsewhere (e.g. ~/.local/bin/claude) is
 * bound read-only into /opt/bot-bottle/bin. A Node launcher (a bin symlink
 * into node_modules/<pkg>/..., which is how `npm install -g` installs Codex)
 * needs its whole package: the launcher looks up a platform package with the
 * native binary beside or under it. So the package folder, and every package
 * it depends on that lives outside it (a hoisted optional dependency), are
 * bound read-only, never copied, under /opt/bot-bottle/lib/node_modules, and
 * /opt/bot-bottle/bin/<program> links to the launcher; a `node` outside /usr
 * (nvm) comes along the same way.
 */
export function hostProgram(program: string, hostPath: string | undefined): HostProgram {
  const found = findOnPath(program, hostPath);
  if (!found) {
    const hint =
      program === 'claude' ? 'install Claude Code on the host (npm install -g @anthropic-ai/claude-code)' : program === 'codex' ? 'install Codex on the host (npm install -g @openai/codex)' : `install ${program} on the host`;
    throw new UserError(`the bwrap backend runs the agent's program from the host, but "${program}" is not on PATH: ${hint}`);
  }
  const real = realpathSync(found);
  if (real.startsWith('/usr/')) return { binds: [], links: [] };
  const pkg = packageRootOf(real);
  if (!pkg) return { binds: [{ src: real, dest: `${GUEST_PROGRAM_BIN}/${program}` }], links: [], guestDir: GUEST_PROGRAM_BIN };

  const binds = packageBinds(pkg.root, pkg.name);
  const launcher = `${GUEST_NODE_MODULES}/${pkg.name}/${relative(pkg.root, real).split(sep).join('/')}`;
  const links = [{ target: launcher, path: `${GUEST_PROGRAM_BIN}/${program}` }];
  if (isNodeScript(real)) {
    const node = nodeForLauncher(hostPath);
    if (node) binds.push({ src: node, dest: `${GUEST_PROGRAM_BIN}/node` });
  }
  return { binds, links, guestDir: GUEST_PROGRAM_BIN };
}

function findOnPath(program: string, hostPath: string | undefined): string | undefined {
  for (const dir of (hostPath ?? '').split(delimiter)) {
    if (dir.length === 0) continue;
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** The npm package a resolved launcher file belongs to: the nearest folder right under node_modules (or a scope in it) with a package.json. */
function packageRootOf(file: string): { root: string; name: string } | undefined {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    const parent = dirname(dir);
    const underNodeModules = basename(parent) === 'node_modules' || (basename(parent).startsWith('@') && basename(dirname(parent)) === 'node_modules');
    if (!underNodeModules) continue;
    const name = readPackageName(dir);
    if (name === undefined) return undefined;
    return { root: dir, name };
  }
  return undefined;
}

function readPackageName(dir: string): string | undefined {
  try {
    const name = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name;
    return typeof name === 'string' && PACKAGE_NAME.test(name) ? name : undefined;
  } catch {
    return undefined;
  }
}

function readDependencyNames(dir: string): string[] {
  try {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: unknown; optionalDependencies?: unknown };
    const names = [pkg.dependencies, pkg.optionalDependencies].flatMap((deps) => (deps && typeof deps === 'object' ? Object.keys(deps) : []));
    return [...new Set(names)].filter((n) => PACKAGE_NAME.test(n));
  } catch {
    return [];
  }
}

/**
 * The package folder, plus each dependency that Node would find outside it
 * (walking up node_modules folders from the requiring package, as
 * require.resolve does). Dependencies nested inside an already bound folder
 * come with it. Optional dependencies that are not installed (other
 * platforms) are skipped.
 */
function packageBinds(root: string, name: string): ProgramBind[] {
  const binds: ProgramBind[] = [{ src: root, dest: `${GUEST_NODE_MODULES}/${name}` }];
  const bound = new Set([root]);
  const names = new Set([name]);
  const queue = [root];
  while (queue.length > 0) {
    const from = queue.shift()!;
    for (const dep of readDependencyNames(from)) {
      const at = resolvePackage(from, dep);
      if (!at || [...bound].some((b) => at === b || at.startsWith(`${b}${sep}`))) continue;
      // One package per name in the flattened guest layout: the first found wins, as Node's walk would from the launcher.
      if (names.has(dep)) continue;
      if (binds.length >= MAX_PACKAGES) throw new UserError(`the agent program's package ${name} pulls in more than ${MAX_PACKAGES} packages from outside its folder; install it with npm install -g`);
      binds.push({ src: at, dest: `${GUEST_NODE_MODULES}/${dep}` });
      bound.add(at);
      names.add(dep);
      queue.push(at);
    }
  }
  return binds;
}

function resolvePackage(from: string, dep: string): string | undefined {
  for (let dir = from; dir !== dirname(dir); dir = dirname(dir)) {
    if (basename(dir) === 'node_modules') continue;
    const candidate = join(dir, 'node_modules', ...dep.split('/'));
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
  }
  return undefined;
}

function isNodeScript(file: string): boolean {
  const head = Buffer.alloc(256);
  const fd = openSync(file, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const text = head.subarray(0, n).toString('latin1');
  return text.startsWith('#!') && /\bnode\b/.test(text.split('\n', 1)[0] ?? '');
}

/** The host's `node` for a `#!/usr/bin/env node` launcher, when the sandbox's /usr has none. */
function nodeForLauncher(hostPath: string | undefined): string | undefined {
  for (const dir of ['/usr/local/bin', '/usr/bin', '/bin']) if (existsSync(join(dir, 'node'))) return undefined;
  const node = findOnPath('node', hostPath);
  if (!node) throw new UserError('the agent program is a Node.js script, but there is no `node` on the host PATH');
  return realpathSync(node);
}
