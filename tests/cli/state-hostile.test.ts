import { chownSync, existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { knownSlugs } from '../../src/state/metadata.js';
import { cli, tempHome, type TempHome } from '../support/home.js';

/** The state folder is hostile input: bad names, links and damaged files get a clear error, never a path. */
let h: TempHome;
afterEach(() => h.cleanup());

const asRoot = process.getuid?.() === 0;

function metadata(slug: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    slug, agent: 'a', bottles: [], backend: 'bwrap', cwd: h.cwd, copy_cwd: false, label: slug, color: 'cyan', started_at: '2026-01-01T00:00:00.000Z', ...extra,
  });
}

describe('resume with hostile names and state', () => {
  it('refuses a slug that is not a name, before it becomes a path', async () => {
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: shell}');
    h.writeAgent('a', 'bottle: b');
    // A metadata file outside the state root that `../../evil` would reach.
    h.write('evil/metadata.json', metadata('evil'));
    const run = await cli(h, ['resume', '../../evil', '--dry-run']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('"../../evil" is not a bottle ');
    expect(run.stderr).not.toContain('    at ');
    expect(run.stdout).toBe('');
  });

  it('refuses metadata that names another bottle or holds a relative cwd', async () => {
    h = tempHome();
    h.write('bbhome/state/one/metadata.json', metadata('two'));
    const other = await cli(h, ['resume', 'one', '--dry-run']);
    expect(other.stderr).toContain('it names bottle "two", not "one"');
    expect(other.stderr).not.toContain('    at ');
    h.write('bbhome/state/one/metadata.json', metadata('one', { cwd: '../repo' }));
    expect((await cli(h, ['resume', 'one', '--dry-run'])).stderr).toContain('cwd: not an absolute path');
    h.write('bbhome/state/one/metadata.json', metadata('one', { agent: '../../x' }));
    expect((await cli(h, ['resume', 'one', '--dry-run'])).stderr).toContain('agent: not a manifest name');
  });

  it('refuses metadata reached through a link', async () => {
    h = tempHome();
    h.write('elsewhere/metadata.json', metadata('linked'));
    mkdirSync(join(h.home, 'state', 'linked'), { recursive: true });
    symlinkSync(join(h.root, 'elsewhere', 'metadata.json'), join(h.home, 'state', 'linked', 'metadata.json'));
    const run = await cli(h, ['resume', 'linked', '--dry-run']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('symbolic link');
  });
});

describe('cleanup with hostile state', () => {
  it('lists only real folders with bottle names and removes links, never their targets', async () => {
    h = tempHome();
    const outside = join(h.root, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'keep'), 'keep');
    mkdirSync(join(h.home, 'state', 'real', 'workspace'), { recursive: true });
    symlinkSync(outside, join(h.home, 'state', 'real', 'workspace', 'out-link'));
    symlinkSync(outside, join(h.home, 'state', 'linked-bottle'));
    mkdirSync(join(h.home, 'state', 'Not A Slug'));
    expect(knownSlugs(h.home)).toEqual(['real']);
    const run = await cli(h, ['cleanup', '--yes', '--state', '--all']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('delete state of stopped bottle real');
    expect(run.stdout).not.toContain('linked-bottle');
    expect(existsSync(join(h.home, 'state', 'real'))).toBe(false);
    expect(readFileSync(join(outside, 'keep'), 'utf8')).toBe('keep');
    expect(lstatSync(join(h.home, 'state', 'linked-bottle')).isSymbolicLink()).toBe(true);
  });

  it.skipIf(!asRoot)('gives back a workspace a killed root-run bottle left lent to the sandbox uid', async () => {
    h = tempHome();
    const ws = join(h.home, 'state', 'killed', 'workspace');
    mkdirSync(join(ws, 'dir'), { recursive: true });
    writeFileSync(join(ws, 'dir', 'agent-file'), 'x');
    const victim = h.write('victim', 'v');
    chownSync(victim, 4321, 4321);
    symlinkSync(victim, join(ws, 'link'));
    for (const p of [ws, join(ws, 'dir'), join(ws, 'dir', 'agent-file')]) chownSync(p, 65534, 65534);
    const run = await cli(h, ['cleanup', '--yes']);
    expect(run.stdout).toContain('give the workspace of killed back to its owner');
    expect(lstatSync(join(ws, 'dir', 'agent-file')).uid).toBe(0);
    expect(lstatSync(ws).uid).toBe(0);
    expect(lstatSync(victim).uid).toBe(4321);
    expect((await cli(h, ['cleanup', '--yes'])).stdout).toBe('nothing to clean up\n');
  });
});
