import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { assertNoLinks, chownTree, copyTree, removeTree, walkTree } from '../../src/util/safe-fs.js';
import { tempHome, type TempHome } from '../support/home.js';

let h: TempHome;
afterEach(() => h.cleanup());

const asRoot = process.getuid?.() === 0;

/** A tree with a link to a file and a link to a folder outside it, and a FIFO. */
function hostileTree(): { tree: string; outsideFile: string; outsideDir: string } {
  const tree = join(h.root, 'tree');
  mkdirSync(join(tree, 'sub'), { recursive: true });
  writeFileSync(join(tree, 'sub', 'file'), 'inside');
  const outsideDir = join(h.root, 'outside');
  mkdirSync(outsideDir);
  const outsideFile = join(outsideDir, 'secret');
  writeFileSync(outsideFile, 'secret');
  symlinkSync(outsideFile, join(tree, 'file-link'));
  symlinkSync(outsideDir, join(tree, 'sub', 'dir-link'));
  execFileSync('mkfifo', [join(tree, 'fifo')]);
  return { tree, outsideFile, outsideDir };
}

describe('walkTree', () => {
  it('visits links as entries and never descends through them', () => {
    h = tempHome();
    const { tree } = hostileTree();
    const seen: string[] = [];
    walkTree(tree, (path) => seen.push(path.slice(tree.length)));
    expect(seen.sort()).toEqual(['', '/fifo', '/file-link', '/sub', '/sub/dir-link', '/sub/file']);
  });

  it('refuses a root that is a link', () => {
    h = tempHome();
    const { outsideDir } = hostileTree();
    symlinkSync(outsideDir, join(h.root, 'link-root'));
    expect(() => walkTree(join(h.root, 'link-root'), () => undefined)).toThrow(/symbolic link/);
  });
});

describe.skipIf(!asRoot)('chownTree (as root)', () => {
  it('changes links themselves, never their targets, and can clear set-id bits', () => {
    h = tempHome();
    const { tree, outsideFile, outsideDir } = hostileTree();
    chownSync(outsideFile, 4321, 4321);
    chownSync(outsideDir, 4321, 4321);
    writeFileSync(join(tree, 'setid'), '#!/bin/sh\n');
    chmodSync(join(tree, 'setid'), 0o6755);
    chownTree(tree, 65534, 65534);
    expect(lstatSync(outsideFile).uid).toBe(4321);
    expect(lstatSync(outsideDir).uid).toBe(4321);
    expect(lstatSync(join(tree, 'file-link')).uid).toBe(65534);
    expect(lstatSync(join(tree, 'sub', 'file')).uid).toBe(65534);
    chmodSync(join(tree, 'setid'), 0o6755);
    chownTree(tree, 0, 0, { clearSetId: true });
    expect(lstatSync(join(tree, 'setid')).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(tree, 'sub', 'file')).uid).toBe(0);
    expect(lstatSync(outsideFile).uid).toBe(4321);
  });
});

describe('copyTree', () => {
  it('copies folders and files, recreates links as links, skips FIFOs and drops set-id bits', () => {
    h = tempHome();
    const { tree, outsideFile } = hostileTree();
    chmodSync(join(tree, 'sub', 'file'), 0o4755);
    const dest = join(h.root, 'copy');
    copyTree(tree, dest);
    expect(readdirSync(dest).sort()).toEqual(['file-link', 'sub']);
    expect(readlinkSync(join(dest, 'file-link'))).toBe(outsideFile);
    expect(lstatSync(join(dest, 'sub', 'dir-link')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dest, 'sub', 'file'), 'utf8')).toBe('inside');
    expect(lstatSync(join(dest, 'sub', 'file')).mode & 0o7777).toBe(0o755);
  });
});

describe('removeTree and assertNoLinks', () => {
  it('removes links inside the tree, never what they point at', () => {
    h = tempHome();
    const { tree, outsideFile, outsideDir } = hostileTree();
    removeTree(h.root, tree);
    expect(existsSync(tree)).toBe(false);
    expect(readFileSync(outsideFile, 'utf8')).toBe('secret');
    expect(existsSync(outsideDir)).toBe(true);
  });

  it('refuses a path that reaches its place through a link, or lies outside its base', () => {
    h = tempHome();
    const { outsideDir } = hostileTree();
    const base = join(h.root, 'base');
    mkdirSync(base);
    symlinkSync(outsideDir, join(base, 'slug'));
    expect(() => removeTree(base, join(base, 'slug', 'secret'))).toThrow(/slug is a symbolic link/);
    expect(() => removeTree(base, join(base, 'slug'))).toThrow(/symbolic link/);
    expect(existsSync(join(outsideDir, 'secret'))).toBe(true);
    expect(() => assertNoLinks(base, join(base, '..', 'outside'))).toThrow(/is not inside/);
    expect(() => assertNoLinks(base, join(base, 'missing', 'deeper'))).not.toThrow();
  });
});
