import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', '-c', 'init.defaultBranch=main', ...args], { cwd, encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dirname(cwd) } });
}

/**
 * A checkout as an operator has one: tracked sources, an untracked file not
 * ignored, installed packages and a local secret that `.gitignore` names, a
 * file force-added inside an ignored folder, an ignored folder inside an
 * untracked one, an empty folder, and links to a host file and folder outside.
 */
export function ignoredRepo(root: string, repo: string): { outsideFile: string } {
  const put = (rel: string, text: string): void => {
    mkdirSync(dirname(join(repo, rel)), { recursive: true });
    writeFileSync(join(repo, rel), text);
  };
  git(root, 'init', '-q', repo);
  put('.gitignore', 'node_modules/\n.env\nbuild/\n*.log\n');
  put('src/main.ts', 'tracked\n');
  put('build/keep/forced.txt', 'forced\n');
  git(repo, 'add', '.gitignore', 'src');
  git(repo, 'add', '-f', 'build/keep/forced.txt');
  git(repo, 'commit', '-q', '-m', 'init');
  put('notes.txt', 'untracked, not ignored\n');
  put('node_modules/left-pad/index.js', 'module.exports = 1;\n');
  put('.env', 'API_KEY=host-only\n');
  put('build/out.js', 'built\n');
  put('scratch/draft.md', 'draft\n');
  put('scratch/debug.log', 'log\n');
  put('scratch/node_modules/x/y.js', 'nested\n');
  mkdirSync(join(repo, 'empty-dir'));
  const outsideFile = join(root, 'outside', 'host-secret.txt');
  mkdirSync(dirname(outsideFile), { recursive: true });
  writeFileSync(outsideFile, 'host secret\n');
  symlinkSync(outsideFile, join(repo, 'abs-link'));
  symlinkSync('../outside', join(repo, 'rel-dir-link'));
  return { outsideFile };
}

/** What the copy must hold (besides `.git`), and what it must leave out. */
export const KEPT = ['.gitignore', 'abs-link', 'build', 'build/keep', 'build/keep/forced.txt', 'empty-dir', 'notes.txt', 'rel-dir-link', 'scratch', 'scratch/draft.md', 'src', 'src/main.ts'];
export const LEFT_OUT = ['.env', 'build/out.js', 'node_modules', 'scratch/debug.log', 'scratch/node_modules'];
