import { afterEach, describe, expect, it } from 'vitest';
import { ManifestCatalog } from '../../src/manifest/catalog.js';
import { ManifestError } from '../../src/manifest/errors.js';
import { parseAgent, parseBottle } from '../../src/manifest/load.js';
import { tempHome, type TempHome } from '../support/home.js';

let h: TempHome;
afterEach(() => h.cleanup());

function bottleError(frontmatter: string): ManifestError {
  h = tempHome();
  const file = h.writeBottle('b', frontmatter);
  try {
    parseBottle(file);
  } catch (err) {
    if (err instanceof ManifestError) return err;
    throw err;
  }
  throw new Error('expected a ManifestError');
}

function agentError(frontmatter: string): ManifestError {
  h = tempHome();
  const file = h.writeAgent('a', frontmatter);
  try {
    parseAgent(file, 'home');
  } catch (err) {
    if (err instanceof ManifestError) return err;
    throw err;
  }
  throw new Error('expected a ManifestError');
}

describe('strict bottle keys', () => {
  it('names file, line, column and key of an unknown top-level key, with the allowed keys', () => {
    const err = bottleError('env:\n  A: "1"\nnetwrok: x');
    expect(err.message).toMatch(/b\.md:4:1: netwrok: unknown key "netwrok"/);
    expect(err.message).toContain('allowed keys here: extends, env, agent_provider, egress, git-gate');
  });

  it('locates an unknown key deep inside a route', () => {
    const err = bottleError('egress:\n  routes:\n    - host: example.com\n      dlpp: {}');
    expect(err.location.line).toBe(5);
    expect(err.location.key).toBe('egress.routes[0].dlpp');
    expect(err.hint).toContain('dlp');
  });

  it('rejects an IP-literal host and explains', () => {
    const err = bottleError('egress:\n  routes:\n    - host: 10.0.0.1');
    expect(err.location.key).toBe('egress.routes[0].host');
    expect(err.message).toContain('IP addresses are not allowed');
  });

  it('rejects a bad method and a bad detector', () => {
    expect(bottleError('egress:\n  routes:\n    - host: a.com\n      matches:\n        - methods: [FETCH]').message).toContain('methods are HTTP verbs');
    expect(bottleError('egress:\n  routes:\n    - host: a.com\n      dlp:\n        outbound_detectors: [magic]').location.key).toBe(
      'egress.routes[0].dlp.outbound_detectors[0]',
    );
  });

  it('asks for quotes around a numeric env value', () => {
    const err = bottleError('env:\n  PORT: 8080');
    expect(err.location.line).toBe(3);
    expect(err.message).toContain('quote numbers');
  });

  it('rejects a token pasted into token_ref without echoing it', () => {
    const pasted = ['ghp', 'abcdefghijklmnopqrstuvwxyz0123456789'].join('_') + '-x';
    const err = bottleError(`egress:\n  routes:\n    - host: a.com\n      auth: {scheme: Bearer, token_ref: "${pasted}"}`);
    expect(err.message).toContain('token_ref is the NAME of a host environment variable');
    expect(err.message).not.toContain(pasted);
  });
});

describe('removed keys fail with a migration hint', () => {
  it.each([
    ['cred_proxy: {}', 'cred_proxy', 'egress routes'],
    ['git: {}', 'git', 'git-gate'],
    ['runtime: runsc', 'runtime', '--backend'],
    ['supervise: false', 'supervise', 'always on'],
  ])('top-level %s', (fm, key, hint) => {
    const err = bottleError(fm);
    expect(err.problem).toBe(`"${key}" is no longer supported`);
    expect(err.location.line).toBe(2);
    expect(err.hint).toContain(hint);
  });

  it.each([
    ['path_allowlist: [/api/]', 'path_allowlist', 'matches'],
    ['role: claude_code_oauth', 'role', 'provider routes'],
  ])('route key %s', (extra, key, hint) => {
    const err = bottleError(`egress:\n  routes:\n    - host: a.com\n      ${extra}`);
    expect(err.location.key).toBe(`egress.routes[0].${key}`);
    expect(err.location.line).toBe(5);
    expect(err.hint).toContain(hint);
  });
});

describe('agent keys', () => {
  it('accepts and ignores Claude Code subagent keys', () => {
    h = tempHome();
    const file = h.writeAgent('a', 'name: x\ndescription: y\nmodel: sonnet\ncolor: blue\nmemory: project\nbottle: dev\nskills: [s1]', 'Prompt body');
    const agent = parseAgent(file, 'home');
    expect(agent.frontmatter.bottle).toBe('dev');
    expect(agent.frontmatter.skills).toEqual(['s1']);
    expect(agent.body).toBe('Prompt body');
  });

  it('rejects repos on an agent because they carry credentials', () => {
    const err = agentError('git-gate:\n  repos:\n    r: {url: x, identity: y, host_key: z}');
    expect(err.message).toContain('agents cannot declare git-gate repos');
    expect(err.location.line).toBe(3);
  });

  it('rejects unknown agent keys', () => {
    expect(agentError('botle: dev').message).toContain('unknown key "botle"');
  });
});

describe('YAML problems', () => {
  it('reports a duplicate key with its line', () => {
    const err = bottleError('env: {}\nenv: {}');
    expect(err.problem).toBe('duplicate key');
    expect(err.location.line).toBe(3);
  });

  it('requires frontmatter, and a closed one', () => {
    h = tempHome();
    const none = h.write('bbhome/bottles/n.md', '# just markdown\n');
    expect(() => parseBottle(none)).toThrow(/n\.md:1: missing YAML frontmatter/);
    const open = h.write('bbhome/bottles/o.md', '---\nenv: {}\n');
    expect(() => parseBottle(open)).toThrow(/frontmatter is not closed/);
  });

  it('refuses an alias bomb', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 0; i < 6; i++) bomb.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`);
    const err = bottleError(bomb.join('\n'));
    expect(err.message).toMatch(/alias/i);
  });
});

describe('catalog', () => {
  it('lists agents from home and repo; home wins on a name collision; repo bottles are ignored with a warning', () => {
    h = tempHome();
    h.writeAgent('same', 'bottle: x', 'home version');
    h.writeRepoAgent('same', 'bottle: y', 'repo version');
    h.writeRepoAgent('repo-only', 'bottle: x');
    h.write('repo/.bot-bottle/bottles/evil.md', '---\nenv: {}\n---\n');
    const catalog = new ManifestCatalog({ home: h.home, cwd: h.cwd });
    expect(catalog.agents().map((a) => [a.name, a.origin])).toEqual([
      ['repo-only', 'repo'],
      ['same', 'home'],
    ]);
    expect(catalog.loadAgent('same').body).toBe('home version');
    expect(catalog.bottleNames()).toEqual([]);
    expect(catalog.warnings.join('\n')).toContain('repositories may ship agents, never bottles');
    expect(catalog.warnings.join('\n')).toContain('shadowed');
  });

  it('names the available agents when one is missing', () => {
    h = tempHome();
    h.writeAgent('alpha', 'bottle: x');
    expect(() => new ManifestCatalog({ home: h.home, cwd: h.cwd }).loadAgent('beta')).toThrow(/no agent named "beta"[\s\S]*available agents: alpha/);
  });
});
