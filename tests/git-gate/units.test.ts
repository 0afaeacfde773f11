import { describe, expect, it } from 'vitest';
import { GitGateConfigSchema } from '../../src/sidecars/git-gate/config.js';
import { allowReason } from '../../src/sidecars/git-gate/exception.js';
import { gitInsteadOfEntries, renderGitConfig } from '../../src/sidecars/git-gate/insteadof.js';
import { checkRefPolicy, parseRefUpdates, refMatches } from '../../src/sidecars/git-gate/policy.js';
import { knownHostsLine, parseSshUrl, sshCommand } from '../../src/sidecars/git-gate/upstream.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const Z = '0'.repeat(40);

describe('git-gate pure parts', () => {
  it('parses both SSH URL spellings', () => {
    expect(parseSshUrl('ssh://git@example.test:2222/org/repo.git')).toEqual({ host: 'example.test', port: 2222 });
    expect(parseSshUrl('ssh://git@example.test/org/repo.git')).toEqual({ host: 'example.test', port: 22 });
    expect(parseSshUrl('git@example.test:org/repo.git')).toEqual({ host: 'example.test', port: 22 });
    expect(() => parseSshUrl('https://example.test/org/repo.git')).toThrow(/not an SSH URL/);
  });

  it('pins the host key to the upstream host and port', () => {
    expect(knownHostsLine('ssh-ed25519 AAAAC3', { host: '127.0.0.1', port: 2222 })).toBe('[127.0.0.1]:2222 ssh-ed25519 AAAAC3\n');
    expect(knownHostsLine('ssh-ed25519 AAAAC3', { host: 'example.test', port: 22 })).toBe('example.test ssh-ed25519 AAAAC3\n');
    expect(knownHostsLine('host.test ssh-rsa AAAAB3', { host: 'x', port: 22 })).toBe('host.test ssh-rsa AAAAB3\n');
    expect(() => knownHostsLine('ssh-ed25519 A\nevil', { host: 'x', port: 22 })).toThrow(/single/);
  });

  it('builds an ssh command that ignores user config and refuses unknown hosts', () => {
    const cmd = sshCommand("/keys/it's key", '/gate/ssh/app.known_hosts');
    expect(cmd).toContain('-F /dev/null');
    expect(cmd).toContain(`-i '/keys/it'\\''s key'`);
    for (const o of ['IdentitiesOnly=yes', 'BatchMode=yes', 'StrictHostKeyChecking=yes', "UserKnownHostsFile='/gate/ssh/app.known_hosts'"]) {
      expect(cmd).toContain(`-o ${o}`);
    }
  });

  it('rewrites the declared upstream (both spellings) to the gate', () => {
    const entries = gitInsteadOfEntries('http://git-gate:9418/', [{ name: 'app', url: 'git@github.com:org/app.git' }]);
    expect(entries).toEqual([
      { key: 'url.http://git-gate:9418/app.git.insteadOf', value: 'git@github.com:org/app.git' },
      { key: 'url.http://git-gate:9418/app.git.insteadOf', value: 'ssh://git@github.com/org/app.git' },
    ]);
    expect(renderGitConfig(entries)).toBe(
      '[url "http://git-gate:9418/app.git"]\n\tinsteadOf = "git@github.com:org/app.git"\n\tinsteadOf = "ssh://git@github.com/org/app.git"\n',
    );
    const ssh = gitInsteadOfEntries('http://g', [{ name: 'x', url: 'ssh://git@h.test:2200/x.git' }]);
    expect(ssh.map((e) => e.value)).toEqual(['ssh://git@h.test:2200/x.git']);
  });

  it('matches branch patterns like refspecs', () => {
    expect(refMatches('refs/heads/bot/x', 'bot/*')).toBe(true);
    expect(refMatches('refs/heads/bot/a/b', 'bot/*')).toBe(true);
    expect(refMatches('refs/heads/main', 'bot/*')).toBe(false);
    expect(refMatches('refs/heads/robot/x', 'bot/*')).toBe(false);
    expect(refMatches('refs/tags/v1', 'refs/tags/*')).toBe(true);
    expect(refMatches('refs/heads/a.b', 'a?b')).toBe(false);
  });

  it('refuses malformed pre-receive input', () => {
    expect(parseRefUpdates(`${A} ${B} refs/heads/x\n`)).toEqual([{ old: A, new: B, ref: 'refs/heads/x' }]);
    expect(() => parseRefUpdates(`${A} ${B} HEAD\n`)).toThrow(/malformed/);
    expect(() => parseRefUpdates(`${A} zz refs/heads/x\n`)).toThrow(/malformed/);
  });

  it('applies the ref policy', async () => {
    const ff = (): Promise<boolean> => Promise.resolve(false);
    const strict = { allowForcePush: false, allowDelete: false };
    expect(await checkRefPolicy([{ old: Z, new: B, ref: 'refs/heads/n' }], strict, ff)).toEqual([]);
    expect((await checkRefPolicy([{ old: A, new: B, ref: 'refs/heads/n' }], strict, ff))[0]).toMatch(/non-fast-forward/);
    expect((await checkRefPolicy([{ old: A, new: Z, ref: 'refs/heads/n' }], strict, ff))[0]).toMatch(/deleting/);
    expect(await checkRefPolicy([{ old: A, new: B, ref: 'refs/heads/n' }], { allowForcePush: true, allowDelete: false }, ff)).toEqual([]);
    expect((await checkRefPolicy([{ old: Z, new: B, ref: 'refs/heads/main' }], { ...strict, branches: ['bot/*'] }, ff))[0]).toMatch(/only push to bot\/\*/);
  });

  it('reads the allow reason push option', () => {
    expect(allowReason(['x=1', 'bot-bottle-allow-reason=test fixture'])).toBe('test fixture');
    expect(allowReason(['bot-bottle-allow-reason=  '])).toBeUndefined();
    expect(allowReason([])).toBeUndefined();
  });

  it('validates the config section with field-named errors', () => {
    const ok = GitGateConfigSchema.parse({
      listen: { host: '127.0.0.1', port: 0 },
      dataDir: '/d',
      repos: [{ name: 'app', url: 'git@h:o/a.git', identityFile: '/k', hostKey: 'ssh-ed25519 AAAA' }],
    });
    expect(ok.repos[0]?.allowForcePush).toBe(false);
    expect(ok.scanTimeoutMs).toBeGreaterThan(0);
    const bad = GitGateConfigSchema.safeParse({
      listen: { host: '127.0.0.1', port: 0 },
      dataDir: '/d',
      repos: [
        { name: 'a/b', url: 'x', identityFile: '/k', hostKey: 'k' },
        { name: 'a/b', url: 'x', identityFile: '/k', hostKey: 'k' },
      ],
    });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toContain('repo name must be letters');
  });
});
