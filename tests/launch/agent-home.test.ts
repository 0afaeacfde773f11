import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mergeJsonLayers, writePersistedFiles } from '../../src/launch/agent-home.js';
import type { GuestFile } from '../../src/provision/guest.js';

/**
 * The agent's persisted folder (e.g. Claude's configuration) is the agent's to
 * write, so bot-bottle merges into it as if every file there were planted.
 */
let root: string;
let dir: string;
let outside: string;
const dirs = (): Array<{ hostPath: string; guestPath: string }> => [{ hostPath: dir, guestPath: '/home/agent/.claude' }];
const config = (content: object, defaults?: object): GuestFile => ({
  path: '/home/agent/.claude/.claude.json',
  content: JSON.stringify(content),
  ...(defaults ? { defaults: JSON.stringify(defaults) } : {}),
  mode: 0o600,
  merge: 'json',
});
const written = (): Record<string, unknown> => JSON.parse(readFileSync(join(dir, '.claude.json'), 'utf8')) as Record<string, unknown>;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'bb-agent-home-'));
  dir = join(root, 'agent-home', '.claude');
  mkdirSync(dir, { recursive: true });
  outside = join(root, 'operator-secret.json');
  writeFileSync(outside, '{"secret": "operator-only"}');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('persisted agent files', () => {
  it("keeps the agent's own keys and choices, forces ours, and fills defaults only where unset", () => {
    writeFileSync(join(dir, '.claude.json'), JSON.stringify({ numStartups: 7, theme: 'light', projects: { '/workspace': { history: ['x'] } } }));
    const rest = writePersistedFiles(dirs(), [config({ hasCompletedOnboarding: true, projects: { '/workspace': { hasTrustDialogAccepted: true } } }, { theme: 'dark', editorMode: 'vim' })]);
    expect(rest).toEqual([]);
    expect(written()).toEqual({ theme: 'light', editorMode: 'vim', numStartups: 7, hasCompletedOnboarding: true, projects: { '/workspace': { history: ['x'], hasTrustDialogAccepted: true } } });
  });

  it('never reads or writes through a symlink the agent planted', () => {
    symlinkSync(outside, join(dir, '.claude.json'));
    writePersistedFiles(dirs(), [config({ hasCompletedOnboarding: true })]);
    expect(readFileSync(outside, 'utf8')).toBe('{"secret": "operator-only"}');
    expect(lstatSync(join(dir, '.claude.json')).isSymbolicLink()).toBe(false);
    expect(written()).toEqual({ hasCompletedOnboarding: true });
  });

  it('does not hang on a FIFO, and replaces a folder or unreadable JSON', () => {
    execFileSync('mkfifo', [join(dir, '.claude.json')]);
    writePersistedFiles(dirs(), [config({ a: 1 })]);
    expect(written()).toEqual({ a: 1 });
    rmSync(join(dir, '.claude.json'));
    mkdirSync(join(dir, '.claude.json', 'inner'), { recursive: true });
    symlinkSync(outside, join(dir, '.claude.json', 'inner', 'link'));
    writePersistedFiles(dirs(), [config({ b: 2 })]);
    expect(written()).toEqual({ b: 2 });
    expect(readFileSync(outside, 'utf8')).toBe('{"secret": "operator-only"}');
    writeFileSync(join(dir, '.claude.json'), '{not json');
    writePersistedFiles(dirs(), [config({ c: 3 })]);
    expect(written()).toEqual({ c: 3 });
  });

  it('keeps a "__proto__" key as data instead of turning it into a prototype', () => {
    const merged = JSON.parse(mergeJsonLayers(undefined, '{"__proto__": {"polluted": true}, "x": 1}', '{"y": 2}')) as Record<string, unknown>;
    expect(Object.keys(merged).sort()).toEqual(['__proto__', 'x', 'y']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('writes only at the top of a persisted folder and passes other files through', () => {
    const other: GuestFile = { path: '/home/agent/.gitconfig', content: 'x', mode: 0o644 };
    expect(writePersistedFiles(dirs(), [other])).toEqual([other]);
    expect(() => writePersistedFiles(dirs(), [{ path: '/home/agent/.claude/sub/file.json', content: '{}', mode: 0o600 }])).toThrow(/directly in/);
  });
});
