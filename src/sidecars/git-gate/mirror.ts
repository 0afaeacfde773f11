import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { GitGateRepo } from './config.js';
import { gateGitEnv, GitError, lastLines, runGit } from './git.js';
import { knownHostsLine, parseSshUrl, sshCommand } from './upstream.js';

/** The refs the agent sees; upstream's other namespaces (refs/pull/*, ...) stay out. */
export const MIRROR_REFSPECS = ['+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*'] as const;

const FETCH_TIMEOUT_MS = 10 * 60_000;

export class UpstreamError extends Error {
  override name = 'UpstreamError';
}

/**
 * One declared upstream and its bare mirror. Fetches are coalesced: callers
 * arriving while a fetch runs share its outcome, so a burst of clones costs
 * one upstream round trip, and every caller still gets a fetch that started
 * after it was asked for or is still running.
 */
export class Mirror {
  readonly path: string;
  readonly knownHostsFile: string;
  private inflight: Promise<void> | undefined;

  constructor(
    readonly repo: GitGateRepo,
    readonly dataDir: string,
  ) {
    this.path = join(dataDir, 'repos', `${repo.name}.git`);
    this.knownHostsFile = join(dataDir, 'ssh', `${repo.name}.known_hosts`);
  }

  /** The environment for talking to upstream; only the key *path* is in it. */
  upstreamEnv(extra: Record<string, string> = {}): Record<string, string> {
    return gateGitEnv(this.dataDir, { GIT_SSH_COMMAND: sshCommand(this.repo.identityFile, this.knownHostsFile), ...extra });
  }

  async init(hookScript: string): Promise<void> {
    const target = parseSshUrl(this.repo.url);
    await mkdir(join(this.dataDir, 'ssh'), { recursive: true, mode: 0o700 });
    await writeFile(this.knownHostsFile, knownHostsLine(this.repo.hostKey, target), { mode: 0o600 });
    const env = gateGitEnv(this.dataDir);
    if (!existsSync(join(this.path, 'HEAD'))) {
      await mkdir(this.path, { recursive: true });
      await runGit(['init', '--bare', '--quiet', this.path], { env });
    }
    const settings: [string, string][] = [
      // Push options carry the operator-exception reason (`-o bot-bottle-allow-reason=...`).
      ['receive.advertisePushOptions', 'true'],
      // Smart HTTP without REMOTE_USER refuses receive-pack unless this is on; the gate has no user accounts.
      ['http.receivepack', 'true'],
      ['http.uploadpack', 'true'],
      // Malformed objects (NUL in commit messages, bad trees) are refused before the scan ever sees them.
      ['receive.fsckObjects', 'true'],
      // The gate's hook is the only policy; git's own checks would give less helpful messages.
      ['receive.denyNonFastForwards', 'false'],
      ['core.logAllRefUpdates', 'false'],
      ['uploadpack.allowFilter', 'true'],
    ];
    for (const [k, v] of settings) await runGit(['config', '--file', join(this.path, 'config'), k, v], { env });
    // The hooks dir belongs to the gate (the agent cannot write into the mirror), so a repo-controlled hook cannot exist.
    const hooks = join(this.path, 'hooks');
    await rm(hooks, { recursive: true, force: true });
    await mkdir(hooks, { recursive: true });
    await writeFile(join(hooks, 'pre-receive'), hookScript, { mode: 0o755 });
  }

  /** Brings the mirror up to date with upstream or throws an UpstreamError the agent can read. */
  fetch(): Promise<void> {
    this.inflight ??= this.doFetch().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async doFetch(): Promise<void> {
    const env = this.upstreamEnv();
    const fetching = runGit(['fetch', '--quiet', '--prune', '--no-write-fetch-head', '--end-of-options', this.repo.url, ...MIRROR_REFSPECS], {
      cwd: this.path,
      env: { ...env, GIT_DIR: this.path },
      timeoutMs: FETCH_TIMEOUT_MS,
    });
    const head = runGit(['ls-remote', '--symref', '--end-of-options', this.repo.url, 'HEAD'], {
      cwd: this.path,
      env: { ...env, GIT_DIR: this.path },
      timeoutMs: FETCH_TIMEOUT_MS,
    });
    const [f, h] = await Promise.allSettled([fetching, head]);
    if (f.status === 'rejected') throw this.upstreamFailure('fetch from', f.reason);
    if (h.status === 'rejected') throw this.upstreamFailure('read the default branch of', h.reason);
    const m = /^ref: (refs\/heads\/\S+)\tHEAD$/m.exec(h.value.stdout);
    if (m?.[1]) {
      const current = (await readFile(join(this.path, 'HEAD'), 'utf8')).trim();
      if (current !== `ref: ${m[1]}`) await runGit(['symbolic-ref', 'HEAD', m[1]], { env: { ...gateGitEnv(this.dataDir), GIT_DIR: this.path } });
    }
  }

  upstreamFailure(what: string, reason: unknown): UpstreamError {
    const detail = reason instanceof GitError ? lastLines(reason.stderr, 4) || reason.message : String(reason);
    const hint = /host key|HOST IDENTIFICATION|Host key verification/i.test(detail)
      ? ' (the upstream host key does not match the pinned hostKey: check the bottle config)'
      : '';
    return new UpstreamError(`git-gate: cannot ${what} upstream ${this.repo.url}${hint}: ${detail}`);
  }
}
