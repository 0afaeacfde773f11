import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitInsteadOfEntries, renderGitConfig, startGitGate, type GitGateHandle } from '../../src/sidecars/git-gate/index.js';
import { DlpBudgetError, type Scanner } from '../../src/dlp/index.js';
import { Mirror } from '../../src/sidecars/git-gate/mirror.js';
import { ProposalQueue } from '../../src/supervise/queue.js';
import { missingTool } from '../support/prereq.js';
import { fakeAwsKeyId, fakeGithubToken, freePort, git, gitOk, keygen, startSshd, tempDir, type Sshd } from './support.js';

const skip = missingTool('git') ?? missingTool('/usr/sbin/sshd', ['-V']) ?? missingTool('ssh', ['-V']);

describe.skipIf(skip)('git-gate with real git and a real sshd', () => {
  let sshd: Sshd;
  let work: string;
  let gate: GitGateHandle;
  let home: string;
  let dataDir: string;
  let queueDir: string;
  const events: Record<string, unknown>[] = [];
  const knownSecret = `kn0wn-${'s3cr3t'}-${Date.now().toString(36)}-value`;
  const savedEnv = process.env.EGRESS_TOKEN_GG_TEST;
  const up = (name: string): string => join(sshd.dir, 'up', `${name}.git`);
  const upUrl = (name: string): string => `ssh://root@127.0.0.1:${sshd.port}${up(name)}`;
  const upRef = (name: string, ref: string): string | undefined => {
    try {
      return execFileSync('git', ['--git-dir', up(name), 'rev-parse', '--verify', '-q', ref], { encoding: 'utf8' }).trim();
    } catch {
      return undefined;
    }
  };
  const mirrorRef = (name: string, ref: string): string | undefined => {
    try {
      return execFileSync('git', ['--git-dir', join(dataDir, 'repos', `${name}.git`), 'rev-parse', '--verify', '-q', ref], { encoding: 'utf8' }).trim();
    } catch {
      return undefined;
    }
  };
  let cloneCount = 0;
  /** Clones the way the agent does: by the upstream URL, which its ~/.gitconfig rewrites to the gate. */
  const clone = async (name: string): Promise<string> => {
    const dir = join(work, `clone-${name}-${++cloneCount}`);
    await gitOk(['clone', '-q', upUrl(name), dir], { home });
    return dir;
  };
  const commitFile = async (dir: string, file: string, content: string, message = `add ${file}`): Promise<void> => {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), content);
    await gitOk(['add', '--', file], { cwd: dir, home });
    await gitOk(['commit', '-q', '-m', message], { cwd: dir, home });
  };

  beforeAll(async () => {
    sshd = await startSshd();
    work = tempDir('gg-work-');
    home = join(work, 'agent-home');
    dataDir = join(work, 'gate');
    queueDir = join(work, 'queue', 'gg-test');
    mkdirSync(home);
    mkdirSync(join(sshd.dir, 'up'));
    writeFileSync(join(home, '.gitconfig'), '[user]\n\tname = Agent\n\temail = agent@example.invalid\n[init]\n\tdefaultBranch = trunk\n');
    // Upstreams: a default branch other than main/master shows HEAD follows upstream.
    const seed = join(work, 'seed');
    await gitOk(['init', '-q', '-b', 'trunk', seed], { home });
    await commitFile(seed, 'README.md', 'hello\n', 'initial');
    for (const name of ['app', 'restricted', 'hooked', 'allow']) {
      await gitOk(['init', '-q', '--bare', '-b', 'trunk', up(name)], { home });
      await gitOk(['push', '-q', up(name), 'trunk'], { cwd: seed, home });
    }
    // The forge's own policy: refuses one branch with a message of its own.
    writeFileSync(
      join(up('hooked'), 'hooks', 'pre-receive'),
      '#!/bin/sh\nwhile read o n r; do if [ "$r" = refs/heads/blocked ]; then echo "forge policy: branch blocked is protected"; exit 1; fi; done\nexit 0\n',
      { mode: 0o755 },
    );
    const otherKey = keygen(join(work, 'other_host_key'));
    const closedPort = await freePort();
    process.env.EGRESS_TOKEN_GG_TEST = knownSecret;
    const base = { identityFile: sshd.identityFile, hostKey: sshd.hostKey };
    gate = await startGitGate(
      {
        listen: { host: '127.0.0.1', port: 0 },
        dataDir,
        superviseQueueDir: queueDir,
        repos: [
          { name: 'app', url: upUrl('app'), ...base },
          { name: 'restricted', url: upUrl('restricted'), ...base, branches: ['bot/*'] },
          { name: 'hooked', url: upUrl('hooked'), ...base },
          { name: 'allow', url: upUrl('allow'), ...base },
          { name: 'badkey', url: upUrl('app'), identityFile: sshd.identityFile, hostKey: otherKey },
          { name: 'down', url: `ssh://root@127.0.0.1:${closedPort}${up('app')}`, ...base },
        ],
      },
      { bottle: 'gg-test', log: (e) => events.push(e) },
    );
    const entries = gitInsteadOfEntries(gate.url!, ['app', 'restricted', 'hooked', 'allow'].map((n) => ({ name: n, url: upUrl(n) })));
    writeFileSync(join(home, '.gitconfig'), renderGitConfig(entries), { flag: 'a' });
  });

  afterAll(async () => {
    if (savedEnv === undefined) delete process.env.EGRESS_TOKEN_GG_TEST;
    else process.env.EGRESS_TOKEN_GG_TEST = savedEnv;
    await gate?.close();
    await sshd?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('clones through the gate, with HEAD on upstream\'s default branch', async () => {
    const dir = await clone('app');
    expect(await gitOk(['symbolic-ref', 'HEAD'], { cwd: dir, home })).toBe('refs/heads/trunk');
    expect(await gitOk(['config', 'remote.origin.url'], { cwd: dir, home })).toBe(upUrl('app'));
    expect(await gitOk(['remote', 'get-url', 'origin'], { cwd: dir, home })).toBe(`${gate.url!}/app.git`);
    expect(await gitOk(['rev-parse', 'HEAD'], { cwd: dir, home })).toBe(upRef('app', 'refs/heads/trunk'));
    // The clone really went through the gate: its mirror holds the ref.
    expect(mirrorRef('app', 'refs/heads/trunk')).toBe(upRef('app', 'refs/heads/trunk'));
  });

  it('sees upstream changes made behind its back on the next fetch', async () => {
    const dir = await clone('app');
    const other = join(work, 'direct');
    execFileSync('git', ['clone', '-q', up('app'), other]);
    execFileSync('git', ['-C', other, '-c', 'user.name=x', '-c', 'user.email=x@x', 'commit', '-q', '--allow-empty', '-m', 'direct']);
    execFileSync('git', ['-C', other, 'push', '-q', 'origin', 'HEAD:refs/heads/direct']);
    await gitOk(['fetch', '-q', 'origin'], { cwd: dir, home });
    expect(await gitOk(['rev-parse', 'origin/direct'], { cwd: dir, home })).toBe(upRef('app', 'refs/heads/direct'));
  });

  it('forwards a clean push upstream', async () => {
    const dir = await clone('app');
    await commitFile(dir, 'src/clean.txt', 'nothing to see\n');
    const r = await git(['push', 'origin', 'HEAD:refs/heads/feature-clean'], { cwd: dir, home });
    expect(r.code, r.stderr).toBe(0);
    const sha = await gitOk(['rev-parse', 'HEAD'], { cwd: dir, home });
    expect(upRef('app', 'refs/heads/feature-clean')).toBe(sha);
    expect(mirrorRef('app', 'refs/heads/feature-clean')).toBe(sha);
  });

  it('rejects a secret in a new file, naming commit, path, line, rule and the masked value', async () => {
    const dir = await clone('app');
    const token = fakeGithubToken();
    await commitFile(dir, 'config/settings.env', `A=1\nB=2\nGITHUB_TOKEN=${token}\n`);
    const before = upRef('app', 'refs/heads/trunk');
    const r = await git(['push', 'origin', 'HEAD:trunk'], { cwd: dir, home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('remote: git-gate: secret scan (gitleaks-style rules)');
    const sha = (await gitOk(['rev-parse', 'HEAD'], { cwd: dir, home })).slice(0, 12);
    expect(r.stderr).toMatch(new RegExp(`commit ${sha} config/settings\\.env:3: github-pat ghp_\\*+`));
    expect(r.stderr).not.toContain(token);
    expect(upRef('app', 'refs/heads/trunk')).toBe(before);
    expect(mirrorRef('app', 'refs/heads/trunk')).toBe(before);
  });

  it('rejects a secret in a commit message', async () => {
    const dir = await clone('app');
    await commitFile(dir, 'notes.txt', 'fine\n', `fix deploy\n\nused key ${fakeAwsKeyId()} for testing`);
    const r = await git(['push', 'origin', 'HEAD:refs/heads/msg-secret'], { cwd: dir, home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/commit message: aws-access-key-id/);
    expect(upRef('app', 'refs/heads/msg-secret')).toBeUndefined();
  });

  it('rejects a secret in an annotated tag message', async () => {
    const dir = await clone('app');
    await gitOk(['tag', '-a', 'v-leak', '-m', `release\n\nkey ${fakeAwsKeyId()}`], { cwd: dir, home });
    const r = await git(['push', 'origin', 'refs/tags/v-leak'], { cwd: dir, home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/commit message: aws-access-key-id/);
    expect(upRef('app', 'refs/tags/v-leak')).toBeUndefined();
  });

  it('coalesces concurrent fetches into one upstream round trip', async () => {
    const m = new Mirror({ name: 'app', url: upUrl('app'), identityFile: sshd.identityFile, hostKey: sshd.hostKey, allowForcePush: false, allowDelete: false }, dataDir);
    const a = m.fetch();
    const b = m.fetch();
    expect(b).toBe(a);
    await Promise.all([a, b]);
    const c = m.fetch();
    expect(c).not.toBe(a);
    await c;
  });

  it('rejects a secret deep in a 50-commit new branch even when a later commit removes it', async () => {
    const dir = await clone('app');
    await gitOk(['checkout', '-q', '-b', 'long'], { cwd: dir, home });
    for (let i = 1; i <= 50; i++) {
      const content = i === 10 ? `value = "${fakeGithubToken()}"\n` : `step ${i}\n`;
      await commitFile(dir, `steps/file.txt`, content, `step ${i}`);
    }
    const deep = (await gitOk(['rev-parse', 'HEAD~40'], { cwd: dir, home })).slice(0, 12);
    const r = await git(['push', 'origin', 'long'], { cwd: dir, home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`commit ${deep} steps/file.txt:1: github-pat`);
    expect(upRef('app', 'refs/heads/long')).toBeUndefined();
  });

  it('ignores repository scanner config: .gitleaks.toml allowlists and gitleaks:allow comments do not help', async () => {
    const dir = await clone('app');
    await commitFile(dir, '.gitleaks.toml', '[allowlist]\ndescription = "everything"\npaths = [".*"]\nregexes = [".*"]\n');
    await commitFile(dir, '.secretlintignore', '**/*\n');
    await commitFile(dir, 'app.py', `TOKEN = "${fakeGithubToken()}"  # gitleaks:allow\n`);
    const r = await git(['push', 'origin', 'HEAD:refs/heads/allowlisted'], { cwd: dir, home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('app.py:1: github-pat');
    expect(upRef('app', 'refs/heads/allowlisted')).toBeUndefined();
  });

  it('rejects the value of a known secret from the gate environment', async () => {
    const dir = await clone('app');
    await commitFile(dir, 'leak.txt', `the token is ${knownSecret}\n`);
    const r = await git(['push', 'origin', 'HEAD:refs/heads/known'], { cwd: dir, home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('leak.txt:1: known-secret');
    expect(r.stderr).not.toContain(knownSecret);
    expect(upRef('app', 'refs/heads/known')).toBeUndefined();
  });

  it('rejects force-pushes and deletions', async () => {
    const dir = await clone('app');
    await commitFile(dir, 'a.txt', 'one\n');
    await gitOk(['push', '-q', 'origin', 'HEAD:refs/heads/forceme'], { cwd: dir, home });
    const pushed = upRef('app', 'refs/heads/forceme');
    await gitOk(['commit', '-q', '--amend', '-m', 'rewritten'], { cwd: dir, home });
    const force = await git(['push', '--force', 'origin', 'HEAD:refs/heads/forceme'], { cwd: dir, home });
    expect(force.code).not.toBe(0);
    expect(force.stderr).toContain('non-fast-forward (force) pushes are not allowed');
    const del = await git(['push', 'origin', ':refs/heads/forceme'], { cwd: dir, home });
    expect(del.code).not.toBe(0);
    expect(del.stderr).toContain('deleting refs is not allowed');
    expect(upRef('app', 'refs/heads/forceme')).toBe(pushed);
  });

  it('enforces the branches patterns', async () => {
    const dir = await clone('restricted');
    await commitFile(dir, 'x.txt', 'x\n');
    const main = await git(['push', 'origin', 'HEAD:trunk'], { cwd: dir, home });
    expect(main.code).not.toBe(0);
    expect(main.stderr).toContain('may only push to bot/*');
    const ok = await git(['push', 'origin', 'HEAD:refs/heads/bot/feature/x'], { cwd: dir, home });
    expect(ok.code, ok.stderr).toBe(0);
    expect(upRef('restricted', 'refs/heads/bot/feature/x')).toBe(await gitOk(['rev-parse', 'HEAD'], { cwd: dir, home }));
    expect(upRef('restricted', 'refs/heads/trunk')).not.toBe(await gitOk(['rev-parse', 'HEAD'], { cwd: dir, home }));
  });

  it('fails closed when the upstream host key does not match the pin (fetch and push)', async () => {
    const url = `${gate.url!}/badkey.git`;
    const r = await git(['clone', url, join(work, 'badkey-clone')], { home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/remote: git-gate: cannot fetch from upstream .*host key does not match/);
    const dir = await clone('app');
    await commitFile(dir, 'y.txt', 'y\n');
    const p = await git(['push', url, 'HEAD:refs/heads/via-badkey'], { cwd: dir, home });
    expect(p.code).not.toBe(0);
    expect(p.stderr).toContain('host key does not match');
    expect(upRef('app', 'refs/heads/via-badkey')).toBeUndefined();
  });

  it('fails with a clear message when the upstream is down', async () => {
    const r = await git(['clone', `${gate.url!}/down.git`, join(work, 'down-clone')], { home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/remote: git-gate: cannot fetch from upstream .*Connection refused/);
  });

  it('reports an upstream refusal and keeps nothing on the gate', async () => {
    const dir = await clone('hooked');
    await commitFile(dir, 'z.txt', 'z\n');
    const r = await git(['push', 'origin', 'HEAD:refs/heads/blocked'], { cwd: dir, home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('forge policy: branch blocked is protected');
    expect(r.stderr).toContain('upstream refused the push');
    expect(upRef('hooked', 'refs/heads/blocked')).toBeUndefined();
    expect(mirrorRef('hooked', 'refs/heads/blocked')).toBeUndefined();
    // Several refs in one push: upstream takes all or none, and so does the gate.
    const multi = await git(['push', 'origin', 'HEAD:refs/heads/blocked', 'HEAD:refs/heads/sibling'], { cwd: dir, home });
    expect(multi.code).not.toBe(0);
    expect(upRef('hooked', 'refs/heads/sibling')).toBeUndefined();
    expect(mirrorRef('hooked', 'refs/heads/sibling')).toBeUndefined();
    const ok = await git(['push', 'origin', 'HEAD:refs/heads/open'], { cwd: dir, home });
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('lets a flagged push through once after the operator approves a git-push-allow proposal', async () => {
    const dir = await clone('allow');
    await commitFile(dir, 'tests/fixture.txt', `fake = ${fakeGithubToken()}\n`);
    const args = ['push', '-o', 'bot-bottle-allow-reason=test fixture', 'origin', 'HEAD:refs/heads/fixture'];
    const first = await git(args, { cwd: dir, home });
    expect(first.code).not.toBe(0);
    const id = /proposal (\S+)\)/.exec(first.stderr)?.[1];
    expect(id, first.stderr).toBeDefined();
    const queue = new ProposalQueue(queueDir, 'gg-test');
    const entry = await queue.get(id!);
    expect(entry?.proposal.kind).toBe('git-push-allow');
    expect(entry?.proposal.details.reason).toBe('test fixture');
    expect(JSON.stringify(entry?.proposal.details)).toContain('tests/fixture.txt');
    expect(upRef('allow', 'refs/heads/fixture')).toBeUndefined();
    await queue.answer(id!, { status: 'approved', by: 'operator', notes: 'ok' });
    const second = await git(args, { cwd: dir, home });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('operator approved this exact push');
    expect(upRef('allow', 'refs/heads/fixture')).toBe(await gitOk(['rev-parse', 'HEAD'], { cwd: dir, home }));
    // Once: another push with the same secret (new commit, new ref) needs its own approval.
    await gitOk(['commit', '-q', '--amend', '-m', 'same fixture, new commit'], { cwd: dir, home });
    const third = await git(['push', '-o', 'bot-bottle-allow-reason=test fixture', 'origin', 'HEAD:refs/heads/fixture2'], { cwd: dir, home });
    expect(third.code).not.toBe(0);
    expect(third.stderr).toMatch(/asked the operator for an exception \(proposal \S+\)/);
    expect(third.stderr).not.toContain(id!);
    expect(upRef('allow', 'refs/heads/fixture2')).toBeUndefined();
  });

  it('fails closed when the scanner errors or runs out of time, or the hook cannot reach the daemon', async () => {
    const failing = (err: Error): Scanner => ({
      scan: () => {
        throw err;
      },
      redact: () => {
        throw err;
      },
    });
    const dir = await clone('app');
    await commitFile(dir, 'harmless.txt', 'harmless\n');
    for (const [err, message] of [
      [new DlpBudgetError('budget'), 'the secret scan exceeded its time budget; push refused'],
      [new Error('rule engine crashed'), 'the secret scan failed (rule engine crashed); push refused'],
    ] as const) {
      const gate2 = await startGitGate(
        { listen: { host: '127.0.0.1', port: 0 }, dataDir: join(work, `gate-failing-${message.length}`), repos: [{ name: 'app', url: upUrl('app'), identityFile: sshd.identityFile, hostKey: sshd.hostKey }] },
        { bottle: 'gg-test', log: () => undefined, scanner: failing(err) },
      );
      try {
        const r = await git(['push', `${gate2.url!}/app.git`, 'HEAD:refs/heads/scanner-down'], { cwd: dir, home });
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain(message);
      } finally {
        await gate2.close();
      }
    }
    const gate3Dir = join(work, 'gate-nohook');
    const gate3 = await startGitGate(
      { listen: { host: '127.0.0.1', port: 0 }, dataDir: gate3Dir, repos: [{ name: 'app', url: upUrl('app'), identityFile: sshd.identityFile, hostKey: sshd.hostKey }] },
      { bottle: 'gg-test', log: () => undefined },
    );
    try {
      rmSync(join(gate3Dir, 'hook.sock'));
      const r = await git(['push', `${gate3.url!}/app.git`, 'HEAD:refs/heads/scanner-down'], { cwd: dir, home });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('could not reach the gate daemon');
    } finally {
      await gate3.close();
    }
    expect(upRef('app', 'refs/heads/scanner-down')).toBeUndefined();
  });

  it('logs pushes without secret values', () => {
    const text = JSON.stringify(events);
    expect(text).toContain('git-gate.push');
    expect(text).not.toContain(knownSecret);
    expect(text).not.toMatch(/gh[p]_[A-Za-z0-9]{36}/);
  });
});
