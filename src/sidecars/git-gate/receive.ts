import { join } from 'node:path';
import { createScanner, DlpBudgetError, knownSecretsFromEnv, type Scanner } from '../../dlp/index.js';
import type { GitGateConfig } from './config.js';
import { allowReason, ALLOW_REASON_OPTION, requestPushException } from './exception.js';
import { gateGitEnv, GitError, runGit } from './git.js';
import type { HookRequest, Say } from './hook.js';
import type { Mirror } from './mirror.js';
import { checkRefPolicy, isZero, parseRefUpdates, type RefUpdate } from './policy.js';
import { scanRange, type PushFinding } from './scan.js';

/**
 * What happens to a push, in order: ref policy → secret scan (→ operator
 * exception) → forward upstream. Runs inside pre-receive, while the pushed
 * objects sit in git's quarantine: the upstream push is made from there, and
 * only when upstream accepts does the hook exit 0 and the gate's refs move.
 * So a ref upstream refuses is never held by the gate either.
 */

export interface ReceiveContext {
  config: GitGateConfig;
  bottle: string;
  mirrors: ReadonlyMap<string, Mirror>;
  log: (event: Record<string, unknown>) => void;
  /** Built once: the scanner holds compiled rules and the known secret values. */
  scanner?: Scanner;
}

const MAX_REPORTED = 20;
const UPSTREAM_PUSH_TIMEOUT_MS = 30 * 60_000;

export function createPushScanner(timeBudgetMs: number, secretEnv: NodeJS.ProcessEnv = process.env): Scanner {
  return createScanner({
    detectors: ['token_patterns', 'known_secrets'],
    knownSecrets: knownSecretsFromEnv(secretEnv),
    timeBudgetMs,
  });
}

export async function handlePush(ctx: ReceiveContext, req: HookRequest, say: Say): Promise<number> {
  const mirror = ctx.mirrors.get(req.repo);
  if (!mirror) {
    say(`git-gate: unknown repository ${req.repo}\n`);
    return 1;
  }
  const updates = parseRefUpdates(req.updates);
  const env = gateGitEnv(ctx.config.dataDir, {
    GIT_DIR: mirror.path,
    ...(req.quarantine !== ''
      ? { GIT_OBJECT_DIRECTORY: req.quarantine, GIT_ALTERNATE_OBJECT_DIRECTORIES: join(mirror.path, 'objects') }
      : {}),
  });
  const logPush = (outcome: string, extra: Record<string, unknown> = {}): void =>
    ctx.log({ event: 'git-gate.push', repo: req.repo, refs: updates.map((u) => u.ref), outcome, ...extra });

  const refusals = await checkRefPolicy(updates, mirror.repo, async (old, next) => {
    try {
      await runGit(['merge-base', '--is-ancestor', old, next], { env });
      return true;
    } catch (err) {
      if (err instanceof GitError && err.code === 1) return false;
      throw err;
    }
  });
  if (refusals.length > 0) {
    for (const r of refusals) say(`git-gate: refused ${r}\n`);
    logPush('refused-policy', { reasons: refusals });
    return 1;
  }

  let findings: PushFinding[];
  const scanStarted = Date.now();
  try {
    findings = await scanPush(ctx, updates, env);
  } catch (err) {
    const why = err instanceof DlpBudgetError ? 'exceeded its time budget' : `failed (${(err as Error).message})`;
    say(`git-gate: the secret scan ${why}; push refused (the gate fails closed)\n`);
    logPush('refused-scan-error', { error: (err as Error).message });
    return 1;
  }
  const scanMs = Date.now() - scanStarted;

  if (findings.length > 0) {
    reportFindings(findings, say);
    const allowed = await operatorException(ctx, req, updates, findings, say);
    if (!allowed) {
      logPush('refused-secret', { scanMs, findings: findings.map((f) => ({ commit: f.commit, path: f.path, line: f.line, rule: f.rule, masked: f.masked })) });
      return 1;
    }
  }

  const forwardStarted = Date.now();
  return forwardUpstream(mirror, updates, env, say, (outcome, extra = {}) =>
    logPush(outcome, { ...extra, scanMs, upstreamMs: Date.now() - forwardStarted }),
  );
}

async function scanPush(ctx: ReceiveContext, updates: readonly RefUpdate[], env: Record<string, string>): Promise<PushFinding[]> {
  const deadline = Date.now() + ctx.config.scanTimeoutMs;
  const scanner = ctx.scanner ?? createPushScanner(ctx.config.scanTimeoutMs);
  const findings: PushFinding[] = [];
  for (const u of updates) {
    if (isZero(u.new)) continue;
    findings.push(...(await scanTagObject(u.new, env, scanner)));
    // A new ref: only what no existing ref already has (issue #106); an update: old..new.
    const revArgs = isZero(u.old) ? [u.new, '--not', '--all'] : [`${u.old}..${u.new}`];
    findings.push(...(await scanRange({ revArgs, env, scanner, deadline, maxFindings: 50 })));
  }
  return findings;
}

const MAX_TAG_BYTES = 1024 * 1024;

/** Annotated tags carry a message of their own that `git log` never shows. */
async function scanTagObject(sha: string, env: Record<string, string>, scanner: Scanner): Promise<PushFinding[]> {
  const type = (await runGit(['cat-file', '-t', sha], { env })).stdout.trim();
  if (type !== 'tag') return [];
  const size = Number((await runGit(['cat-file', '-s', sha], { env })).stdout.trim());
  if (!(size <= MAX_TAG_BYTES)) throw new Error(`tag object ${sha.slice(0, 12)} is too large to scan (${size} bytes)`);
  const text = (await runGit(['cat-file', 'tag', sha], { env })).stdout;
  return scanner
    .scan(text)
    .filter((f) => f.severity === 'block')
    .map((f) => ({ commit: sha, path: '(tag message)', line: f.line, rule: f.rule, masked: f.masked, where: 'commit message' as const }));
}

function reportFindings(findings: readonly PushFinding[], say: Say): void {
  say('git-gate: secret scan (gitleaks-style rules) rejected this push:\n');
  for (const f of findings.slice(0, MAX_REPORTED)) {
    const where = f.where === 'commit message' ? 'commit message' : f.where === 'file name' ? `file name ${f.path}` : `${f.path}:${f.line}`;
    say(`git-gate:   commit ${f.commit.slice(0, 12)} ${where}: ${f.rule} ${f.masked}\n`);
  }
  if (findings.length > MAX_REPORTED) say(`git-gate:   ... and ${findings.length - MAX_REPORTED} more\n`);
  say('git-gate: remove the secret from every commit (e.g. rebase), then push again. Repository files such as\n');
  say('git-gate: .gitleaks.toml or gitleaks:allow comments do not apply: only the gate configuration counts.\n');
}

async function operatorException(
  ctx: ReceiveContext,
  req: HookRequest,
  updates: readonly RefUpdate[],
  findings: readonly PushFinding[],
  say: Say,
): Promise<boolean> {
  const reason = allowReason(req.pushOptions);
  if (!ctx.config.superviseQueueDir) return false;
  if (!reason) {
    say(`git-gate: if this is a false positive or a test fixture, ask the operator: push again with\n`);
    say(`git-gate:   git push -o ${ALLOW_REASON_OPTION}="<why this is safe>" ...\n`);
    return false;
  }
  const outcome = await requestPushException({
    queueDir: ctx.config.superviseQueueDir,
    bottle: ctx.bottle,
    repo: req.repo,
    updates,
    findings,
    reason,
    waitMs: ctx.config.approvalWaitMs,
  });
  ctx.log({ event: 'git-gate.push-exception', repo: req.repo, proposal: outcome.id, status: outcome.status });
  if (outcome.status === 'approved') {
    say(`git-gate: the operator approved this exact push (proposal ${outcome.id}); forwarding it once\n`);
    return true;
  }
  if (outcome.status === 'rejected') {
    say(`git-gate: the operator rejected the exception (proposal ${outcome.id})${outcome.notes ? `: ${outcome.notes}` : ''}\n`);
    return false;
  }
  say(`git-gate: asked the operator for an exception (proposal ${outcome.id}); after approval, run the same push again\n`);
  return false;
}

async function forwardUpstream(
  mirror: Mirror,
  updates: readonly RefUpdate[],
  env: Record<string, string>,
  say: Say,
  logPush: (outcome: string, extra?: Record<string, unknown>) => void,
): Promise<number> {
  if (updates.length === 0) return 0;
  const refspecs = updates.map((u) => {
    if (isZero(u.new)) return `:${u.ref}`;
    // Policy already refused force-pushes unless the repo allows them; then upstream gets a real force.
    const forced = !isZero(u.old) && mirror.repo.allowForcePush;
    return `${forced ? '+' : ''}${u.new}:${u.ref}`;
  });
  let pending = '';
  const relay = (chunk: string): void => {
    pending += chunk;
    const lines = pending.split(/\r?\n|\r/);
    pending = lines.pop() ?? '';
    for (const l of lines) if (l.trim() !== '') say(`upstream: ${l}\n`);
  };
  try {
    // --atomic: upstream takes all refs of the push or none, matching pre-receive's all-or-nothing
    // (only for multi-ref pushes, so a forge without atomic support still takes single-ref pushes).
    const atomic = refspecs.length > 1 ? ['--atomic'] : [];
    await runGit(['push', ...atomic, '--porcelain', '--end-of-options', mirror.repo.url, ...refspecs], {
      env: { ...mirror.upstreamEnv(), ...pick(env, ['GIT_DIR', 'GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES']) },
      timeoutMs: UPSTREAM_PUSH_TIMEOUT_MS,
      onStderr: relay,
    });
  } catch (err) {
    relay('\n');
    const failure = mirror.upstreamFailure('push to', err);
    say(`${failure.message}\n`);
    say('git-gate: upstream refused the push, so the gate did not accept it either\n');
    logPush('refused-upstream', { error: failure.message });
    return 1;
  }
  relay('\n');
  logPush('forwarded');
  return 0;
}

function pick(env: Record<string, string>, keys: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) if (env[k] !== undefined) out[k] = env[k];
  return out;
}
