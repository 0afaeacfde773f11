import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyWorkspace, describeIgnored } from '../../src/launch/workspace-copy.js';
import { walkTree } from '../../src/util/safe-fs.js';
import { tempHome, type TempHome } from '../support/home.js';
import { git, ignoredRepo, KEPT, LEFT_OUT } from '../support/ignored-repo.js';
import { missingTool } from '../support/prereq.js';

let h: TempHome;
afterEach(() => h.cleanup());

/** Every path in a copy, `.git`'s insides left out. */
function listing(dir: string): string[] {
  const out: string[] = [];
  walkTree(dir, (path) => {
    const rel = relative(dir, path);
    if (rel === '.git') out.push(rel);
    if (rel === '.git') return false;
    if (rel !== '') out.push(rel);
    return true;
  });
  return out.sort();
}

describe.skipIf(missingTool('git'))('the --cwd workspace copy', () => {
  it('leaves out what git ignores, keeps tracked and untracked files, .git, empty folders and links as links', () => {
    h = tempHome();
    const { outsideFile } = ignoredRepo(h.root, h.cwd);
    const dest = join(h.root, 'ws');
    const ignored = copyWorkspace(h.cwd, dest);
    expect(ignored).toEqual({ paths: LEFT_OUT });
    expect(listing(dest)).toEqual(['.git', ...KEPT].sort());
    expect(readlinkSync(join(dest, 'abs-link'))).toBe(outsideFile);
    expect(lstatSync(join(dest, 'rel-dir-link')).isSymbolicLink()).toBe(true);
    expect(git(dest, 'log', '--format=%s')).toBe('init\n');
    expect(describeIgnored(h.cwd, ignored)).toBe(`workspace: copied ${h.cwd} without 5 paths git ignores (".env", "build/out.js", "node_modules", "scratch/debug.log", …)`);
  });

  it('copies a subfolder of a checkout by the checkout\'s rules, and no GIT_* variable points git elsewhere', () => {
    h = tempHome();
    ignoredRepo(h.root, h.cwd);
    // Another repository that ignores nothing: GIT_DIR/GIT_WORK_TREE from the operator's shell must not win.
    const other = join(h.root, 'other');
    git(h.root, 'init', '-q', other);
    const saved = { dir: process.env.GIT_DIR, tree: process.env.GIT_WORK_TREE };
    process.env.GIT_DIR = join(other, '.git');
    process.env.GIT_WORK_TREE = other;
    try {
      const dest = join(h.root, 'ws');
      expect(copyWorkspace(join(h.cwd, 'scratch'), dest)).toEqual({ paths: ['debug.log', 'node_modules'] });
      expect(listing(dest)).toEqual(['draft.md']);
    } finally {
      if (saved.dir === undefined) delete process.env.GIT_DIR;
      else process.env.GIT_DIR = saved.dir;
      if (saved.tree === undefined) delete process.env.GIT_WORK_TREE;
      else process.env.GIT_WORK_TREE = saved.tree;
    }
  });

  it('honours the .gitignore files of a folder that is not a checkout', () => {
    h = tempHome();
    writeFileSync(join(h.cwd, '.gitignore'), 'node_modules\n*.tmp\n');
    mkdirSync(join(h.cwd, 'node_modules', 'p'), { recursive: true });
    writeFileSync(join(h.cwd, 'node_modules', 'p', 'i.js'), 'x');
    mkdirSync(join(h.cwd, 'lib'));
    writeFileSync(join(h.cwd, 'lib', 'a.js'), 'a');
    writeFileSync(join(h.cwd, 'lib', 'b.tmp'), 'b');
    const dest = join(h.root, 'ws');
    expect(copyWorkspace(h.cwd, dest)).toEqual({ paths: ['lib/b.tmp', 'node_modules'] });
    expect(listing(dest)).toEqual(['.gitignore', 'lib', 'lib/a.js']);
    // The throwaway repository git read the rules through is gone.
    expect(existsSync(join(h.cwd, '.git'))).toBe(false);
  });

  it('copies everything, and says so, when git ignores the folder itself', () => {
    h = tempHome();
    ignoredRepo(h.root, h.cwd);
    const dest = join(h.root, 'ws');
    const ignored = copyWorkspace(join(h.cwd, 'node_modules'), dest);
    expect('unavailable' in ignored).toBe(true);
    expect(readFileSync(join(dest, 'left-pad', 'index.js'), 'utf8')).toBe('module.exports = 1;\n');
    expect(describeIgnored('/x', ignored)).toMatch(/^workspace: copied all of \/x \(/);
  });
});
