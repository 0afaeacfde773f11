import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManifestCatalog } from '../../src/manifest/catalog.js';
import { manifestErrorOf } from '../support/manifest-error.js';
import { parseAgent, parseBottle } from '../../src/manifest/load.js';
import { isName } from '../../src/manifest/names.js';
import { resolveSkill } from '../../src/manifest/roots.js';
import { cli, tempHome, type TempHome } from '../support/home.js';

let h: TempHome;
afterEach(() => h.cleanup());

const catalog = (): ManifestCatalog => new ManifestCatalog({ home: h.home, cwd: h.cwd, userHome: h.userHome });

describe('the name rule', () => {
  it('accepts plain names and refuses anything path-like or hidden', () => {
    h = tempHome();
    for (const ok of ['dev', 'Dev-2', 'a.b_c', 'x'.repeat(64), '0']) expect(isName(ok), ok).toBe(true);
    for (const bad of ['', '.', '..', '.hidden', 'a/b', 'a\\b', '../x', 'a..b', '/abs', '-x', 'x'.repeat(65), 'a b', 'a\u0000b', 'é']) {
      expect(isName(bad), JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('names in manifests are names, with file, line and key', () => {
  it.each([
    ['../../../../../../proc/self/cwd/notes/b'],
    ['/tmp/evil/b'],
    ['.hidden'],
    ['sub/b'],
  ])('refuses an agent whose bottle is %j', (bottle) => {
    h = tempHome();
    const file = h.writeRepoAgent('evil', `description: x\nbottle: "${bottle}"`);
    const err = manifestErrorOf(() => parseAgent(file, 'repo'));
    expect(err.location).toMatchObject({ file, line: 3, key: 'bottle' });
    expect(err.message).toContain('is not a name');
    expect(err.message).toContain('repositories can never supply one');
  });

  it('refuses a path in extends, in skills and as a git-gate repo name', () => {
    h = tempHome();
    expect(manifestErrorOf(() => parseBottle(h.writeBottle('b', 'extends: ../b2'))).location.key).toBe('extends');
    expect(manifestErrorOf(() => parseAgent(h.writeAgent('a', 'skills: [ok, ../../.ssh]'), 'home')).location).toMatchObject({ line: 2, key: 'skills[1]' });
    const repo = manifestErrorOf(() => parseBottle(h.writeBottle('c', 'git-gate:\n  repos:\n    "..": {url: u, identity: i, host_key: k}')));
    expect(repo.message).toContain('is not a name');
    expect(manifestErrorOf(() => parseBottle(h.writeBottle('d', 'git-gate:\n  repos:\n    app.git: {url: u, identity: i, host_key: k}'))).message).toContain('must not end in ".git"');
  });
});

describe('the catalog joins only names to folders, and reads only inside them', () => {
  it('refuses a path handed to it directly (defence in depth behind the schema and the flags)', () => {
    h = tempHome();
    h.writeBottle('b', 'env: {A: "1"}');
    mkdirSync(join(h.cwd, 'notes'));
    writeFileSync(join(h.cwd, 'notes', 'b.md'), '---\nenv: {A: "2"}\n---\n');
    for (const name of ['../../repo/notes/b', join(h.cwd, 'notes', 'b'), '..']) {
      expect(manifestErrorOf(() => catalog().loadBottle(name)).message).toContain('is not a name');
    }
    expect(manifestErrorOf(() => catalog().loadAgent('../x')).message).toContain('is not a name');
  });

  it('refuses a bottle file that is a symlink out of the bottles folder, but accepts a symlinked folder', () => {
    h = tempHome();
    const outside = h.write('elsewhere/evil.md', '---\nenv: {A: "1"}\n---\n');
    mkdirSync(join(h.home, 'bottles'), { recursive: true });
    symlinkSync(outside, join(h.home, 'bottles', 'linked.md'));
    const err = manifestErrorOf(() => catalog().loadBottle('linked'));
    expect(err.message).toContain('outside');
    expect(err.hint).toContain('symlinked bottles folder is fine');
    expect(catalog().bottleNames()).not.toContain('linked');

    const h2 = tempHome();
    try {
      h2.write('dotfiles/bottles/dev.md', '---\nenv: {A: "dot"}\n---\n');
      symlinkSync(join(h2.root, 'dotfiles', 'bottles'), join(h2.home, 'bottles'));
      const c = new ManifestCatalog({ home: h2.home, cwd: h2.cwd, userHome: h2.userHome });
      expect(c.resolveBottle('dev').bottle.env).toEqual({ A: 'dot' });
    } finally {
      h2.cleanup();
    }
  });

  it('skips repo agents that resolve outside the repository, and files whose name is not a name', () => {
    h = tempHome();
    const outside = h.write('host-file.md', '---\nbottle: b\n---\nhost secrets\n');
    mkdirSync(join(h.cwd, '.bot-bottle', 'agents'), { recursive: true });
    symlinkSync(outside, join(h.cwd, '.bot-bottle', 'agents', 'leak.md'));
    writeFileSync(join(h.cwd, '.bot-bottle', 'agents', 'bad name.md'), '---\nbottle: b\n---\n');
    h.writeRepoAgent('fine', 'bottle: b');
    const c = catalog();
    expect(c.agents().map((a) => a.name)).toEqual(['fine']);
    expect(c.warnings.join('\n')).toMatch(/ignoring .*leak\.md: it resolves to .*host-file\.md, outside/);
    expect(c.warnings.join('\n')).toContain('"bad name" is not a name');
    expect(manifestErrorOf(() => c.loadAgent('leak')).message).toContain('no agent named "leak"');
  });

  it('ignores a repo whose .bot-bottle folder points outside it', () => {
    h = tempHome();
    h.write('other/agents/sneaky.md', '---\nbottle: b\n---\n');
    symlinkSync(join(h.root, 'other'), join(h.cwd, '.bot-bottle'));
    const c = catalog();
    expect(c.agents()).toEqual([]);
    expect(c.warnings.join('\n')).toContain('outside the repository');
  });
});

describe('skills', () => {
  it('resolves a skill folder inside ~/.claude/skills and refuses links out of it and paths', () => {
    h = tempHome();
    mkdirSync(join(h.userHome, '.claude', 'skills', 'pdf'), { recursive: true });
    mkdirSync(join(h.root, 'keys'));
    symlinkSync(join(h.root, 'keys'), join(h.userHome, '.claude', 'skills', 'keys'));
    expect(resolveSkill(h.userHome, 'pdf')).toEqual({ path: join(h.userHome, '.claude', 'skills', 'pdf') });
    expect(resolveSkill(h.userHome, 'keys')).toMatchObject({ problem: expect.stringContaining('outside') });
    expect(resolveSkill(h.userHome, '../../keys')).toMatchObject({ problem: expect.stringContaining('is not a name') });
    expect(resolveSkill(h.userHome, 'absent')).toMatchObject({ problem: expect.stringContaining('is not in') });
  });
});

describe('names on the command line', () => {
  it.each([
    [['start', 'a', '--bottle', '../x', '--dry-run', '--backend', 'bwrap'], '--bottle: bottle "../x" is not a name: paths are not allowed'],
    [['start', '../a', '--dry-run', '--backend', 'bwrap'], 'agent: agent "../a" is not a name'],
    [['info', '/etc/a'], 'agent: agent "/etc/a" is not a name'],
    [['edit', '--bottle', '../../x'], 'NAME: bottle "../../x" is not a name'],
    [['init', 'a', '--bottle', 'x\nextends: y'], '--bottle: bottle (a value with control characters) is not a name'],
    [['init', '../a'], 'NAME: agent "../a" is not a name'],
    [['resume', '../../x'], '"../../x" is not a bottle slug'],
  ])('refuses %j with the flag and the fix', async (argv, message) => {
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: shell}');
    h.writeAgent('a', 'bottle: b');
    const run = await cli(h, argv);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(message);
    expect(run.stderr).not.toContain('unexpected error');
  });
});
