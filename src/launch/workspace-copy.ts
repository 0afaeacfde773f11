import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyTree } from '../util/safe-fs.js';

/** What a `--cwd` copy left out: paths relative to the source, or why nothing was. */
export type IgnoredPaths = { paths: string[] } | { unavailable: string };

/**
 * Copy the operator's folder into a new workspace, leaving out what git
 * ignores there (`node_modules/`, `.env`, build output): the agent gets the
 * repository, not hundreds of MB of installed packages or local secrets.
 * `.git` is copied: the agent reads history and commits, and pushes go out
 * through git-gate's `insteadOf` rules.
 *
 * git only lists; the copy is copyTree's, which never follows a link or
 * leaves the file system, so whatever git says can only leave files out.
 * When git cannot tell (not installed, it refuses the folder), everything
 * is copied and the caller says so.
 */
export function copyWorkspace(source: string, dest: string): IgnoredPaths {
  const ignored = gitIgnored(source);
  const skip = 'paths' in ignored ? new Set(ignored.paths) : new Set<string>();
  copyTree(source, dest, { skip: (rel) => skip.has(rel) });
  return ignored;
}

/** One line for the operator: what the copy left out (a few names, never the whole list). */
export function describeIgnored(source: string, ignored: IgnoredPaths): string {
  if ('unavailable' in ignored) return `workspace: copied all of ${source} (${ignored.unavailable})`;
  const n = ignored.paths.length;
  if (n === 0) return `workspace: copied ${source} (git ignores nothing in it)`;
  const shown = ignored.paths.slice(0, 4).map((p) => JSON.stringify(p)).join(', ');
  return `workspace: copied ${source} without ${n} path${n === 1 ? '' : 's'} git ignores (${shown}${n > 4 ? ', …' : ''})`;
}

/**
 * The untracked paths git's ignore rules (every .gitignore, .git/info/exclude,
 * core.excludesFile) leave out, relative to `source`, an ignored folder as one
 * entry. Outside a work tree the same rules are read from the folder's
 * .gitignore files through an empty throwaway repository.
 */
export function gitIgnored(source: string): IgnoredPaths {
  const probe = git(source, ['rev-parse', '--is-inside-work-tree']);
  if (probe.error) return { unavailable: `git could not run: ${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message}` };
  if (probe.status === 0 && probe.stdout.toString().trim() === 'true') return listIgnored(source, []);
  const why = firstLine(probe.stderr);
  if (probe.status !== 0 && /not a git repository/i.test(why)) {
    const scratch = mkdtempSync(join(tmpdir(), 'bot-bottle-ignore-'));
    try {
      const gitDir = join(scratch, 'empty.git');
      const init = git(scratch, ['init', '--quiet', '--bare', '--template=', gitDir]);
      if (init.status !== 0) return { unavailable: `git init failed: ${firstLine(init.stderr)}` };
      return listIgnored(source, [`--git-dir=${gitDir}`, `--work-tree=${source}`]);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  return { unavailable: `git: ${why || 'not a work tree'}` };
}

function listIgnored(source: string, repo: string[]): IgnoredPaths {
  // --directory: an ignored folder is one entry and git does not list what is in it; a tracked
  // file inside an ignored folder keeps that folder listed path by path, so it is still copied.
  const list = git(source, [...repo, 'ls-files', '--others', '--ignored', '--exclude-standard', '--directory', '-z']);
  if (list.error || list.status !== 0) return { unavailable: `git ls-files failed: ${list.error?.message ?? firstLine(list.stderr)}` };
  const paths = list.stdout
    .toString('utf8')
    .split('\0')
    .filter((p) => p.length > 0)
    .map((p) => (p.endsWith('/') ? p.slice(0, -1) : p));
  // The folder itself ignored (e.g. a build folder): the operator asked for it, so nothing is left out.
  if (paths.some((p) => p === '' || p === '.')) return { unavailable: 'git ignores the folder itself' };
  return { paths: paths.sort() };
}

/**
 * git with argument arrays (never a shell), without the caller's GIT_*
 * variables (a GIT_DIR or GIT_WORK_TREE would point it elsewhere), in the C
 * locale (its messages are matched), and without an fsmonitor hook (a
 * checkout's config could name any program).
 */
function git(cwd: string, args: string[]): SpawnSyncReturns<Buffer> {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('GIT_')) env[name] = value;
  env.LC_ALL = 'C';
  return spawnSync('git', ['-c', 'core.fsmonitor=false', '--no-optional-locks', ...args], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
    timeout: 120_000,
  });
}

function firstLine(buffer: Buffer | null | undefined): string {
  return (buffer?.toString('utf8') ?? '').trim().split('\n')[0]?.trim() ?? '';
}
