import { afterEach, describe, expect, it } from 'vitest';
import { ManifestCatalog } from '../../src/manifest/catalog.js';
import { classifyEnv } from '../../src/manifest/env.js';
import { tempHome, type TempHome } from '../support/home.js';

let h: TempHome;
afterEach(() => h.cleanup());

const catalog = (): ManifestCatalog => new ManifestCatalog({ home: h.home, cwd: h.cwd, userHome: h.userHome });

describe('extends', () => {
  it('merges env (child wins), git user per field, repos by name, and replaces provider and egress whole', () => {
    h = tempHome();
    h.writeBottle(
      'base',
      `env: {A: "base-a", B: "base-b"}
agent_provider: {template: claude, auth_token: TOK}
egress:
  routes:
    - host: base.example
git-gate:
  user: {name: Base Name, email: base@example.com}
  repos:
    one: {url: "ssh://git@h/one.git", identity: ~/.ssh/one, host_key: "h ssh-ed25519 AAA"}
    two: {url: "ssh://git@h/two.git", identity: keys/two, host_key: "h ssh-ed25519 BBB"}`,
    );
    h.writeBottle(
      'child',
      `extends: base
env: {B: "child-b", C: "child-c"}
agent_provider: {template: shell}
egress:
  routes:
    - host: child.example
git-gate:
  user: {email: child@example.com}
  repos:
    two: {url: "ssh://git@h/two-fork.git", identity: /abs/two, host_key: "h ssh-ed25519 CCC"}`,
    );
    const { chain, bottle } = catalog().resolveBottle('child');
    expect(chain).toEqual(['base', 'child']);
    expect(bottle.env).toEqual({ A: 'base-a', B: 'child-b', C: 'child-c' });
    expect(bottle.agent_provider).toEqual({ template: 'shell' });
    expect(bottle.egress?.routes?.map((r) => r.host)).toEqual(['child.example']);
    expect(bottle['git-gate']?.user).toEqual({ name: 'Base Name', email: 'child@example.com' });
    expect(bottle['git-gate']?.repos?.two?.url).toBe('ssh://git@h/two-fork.git');
    expect(bottle['git-gate']?.repos?.one?.identity).toBe(`${h.userHome}/.ssh/one`);
    expect(Object.keys(bottle['git-gate']?.repos ?? {})).toEqual(['one', 'two']);
  });

  it('resolves identity paths relative to the bottle file', () => {
    h = tempHome();
    h.writeBottle('b', 'git-gate:\n  repos:\n    r: {url: u, identity: keys/id, host_key: k}');
    expect(catalog().resolveBottle('b').bottle['git-gate']?.repos?.r?.identity).toBe(`${h.home}/bottles/keys/id`);
  });

  it('clears inherited repos with an explicit {}', () => {
    h = tempHome();
    h.writeBottle('base', 'git-gate:\n  repos:\n    r: {url: u, identity: /i, host_key: k}');
    h.writeBottle('child', 'extends: base\ngit-gate:\n  repos: {}');
    expect(catalog().resolveBottle('child').bottle['git-gate']?.repos).toEqual({});
  });

  it('keeps the parent when the child does not declare a field', () => {
    h = tempHome();
    h.writeBottle('base', 'agent_provider: {template: codex}\negress:\n  routes:\n    - host: a.example');
    h.writeBottle('child', 'extends: base\nenv: {X: "1"}');
    const { bottle } = catalog().resolveBottle('child');
    expect(bottle.agent_provider?.template).toBe('codex');
    expect(bottle.egress?.routes?.[0]?.host).toBe('a.example');
  });

  it('fails on a cycle with the chain', () => {
    h = tempHome();
    h.writeBottle('a', 'extends: b');
    h.writeBottle('b', 'extends: c');
    h.writeBottle('c', 'extends: a');
    expect(() => catalog().resolveBottle('a')).toThrow(/extends cycle: a -> b -> c -> a/);
  });

  it('fails on self-extension', () => {
    h = tempHome();
    h.writeBottle('me', 'extends: me');
    expect(() => catalog().resolveBottle('me')).toThrow(/bottle "me" extends itself/);
  });

  it('fails on a missing parent with the chain and the available names', () => {
    h = tempHome();
    h.writeBottle('a', 'extends: b');
    h.writeBottle('b', 'extends: ghost');
    expect(() => catalog().resolveBottle('a')).toThrow(/b\.md: extends: extends "ghost", which does not exist \(chain: a -> b -> ghost\)[\s\S]*available bottles: a, b/);
  });

  it('parses a diamond once and merges it', () => {
    h = tempHome();
    h.writeBottle('root', 'env: {R: "r"}');
    h.writeBottle('left', 'extends: root\nenv: {L: "l"}');
    h.writeBottle('right', 'extends: root\nenv: {R: "right"}');
    const cat = catalog();
    const merged = cat.resolveBottles(['left', 'right']);
    expect(merged.bottle.env).toEqual({ R: 'right', L: 'l' });
    expect(cat.resolveBottle('root')).toBe(cat.resolveBottle('root'));
  });
});

describe('several --bottle flags merge in order under the same rules', () => {
  it('later bottles win env and replace egress', () => {
    h = tempHome();
    h.writeBottle('one', 'env: {A: "1", B: "1"}\negress:\n  routes:\n    - host: one.example');
    h.writeBottle('two', 'env: {B: "2"}\negress:\n  routes:\n    - host: two.example');
    const merged = catalog().resolveBottles(['one', 'two']);
    expect(merged.chain).toEqual(['one', 'two']);
    expect(merged.bottle.env).toEqual({ A: '1', B: '2' });
    expect(merged.bottle.egress?.routes?.map((r) => r.host)).toEqual(['two.example']);
  });
});

describe('env forms', () => {
  it('classifies literal, prompted and interpolated values', () => {
    expect(classifyEnv('A', 'plain')).toEqual({ name: 'A', kind: 'literal', value: 'plain' });
    expect(classifyEnv('B', '?')).toEqual({ name: 'B', kind: 'prompt', prompt: 'value for B' });
    expect(classifyEnv('C', '?paste your token')).toEqual({ name: 'C', kind: 'prompt', prompt: 'paste your token' });
    expect(classifyEnv('D', '${GH_PAT}')).toEqual({ name: 'D', kind: 'host', hostVar: 'GH_PAT' });
    // Only a whole-string reference interpolates; anything else is literal.
    expect(classifyEnv('E', 'x${GH_PAT}')).toEqual({ name: 'E', kind: 'literal', value: 'x${GH_PAT}' });
  });
});
