import { ProposalQueue } from '../../supervise/queue.js';
import type { RefUpdate } from './policy.js';
import type { PushFinding } from './scan.js';

/**
 * The operator exception for a flagged push: a `git-push-allow` proposal in
 * the bottle's supervise queue, carrying the agent's mandatory reason. The
 * proposal's details name the exact push (repo, ref, old, new), so approval
 * lets that push through once: the queue reuses an identical proposal until
 * its answer has been delivered, and a delivered answer is never reused.
 */

export const ALLOW_REASON_OPTION = 'bot-bottle-allow-reason';

export function allowReason(pushOptions: readonly string[]): string | undefined {
  for (const o of pushOptions) {
    if (o.startsWith(`${ALLOW_REASON_OPTION}=`)) {
      const reason = o.slice(ALLOW_REASON_OPTION.length + 1).trim();
      return reason === '' ? undefined : reason.slice(0, 500);
    }
  }
  return undefined;
}

export type ExceptionOutcome =
  | { status: 'approved'; id: string; by: string }
  | { status: 'rejected'; id: string; notes?: string }
  | { status: 'pending'; id: string };

export interface ExceptionRequest {
  queueDir: string;
  bottle: string;
  repo: string;
  updates: readonly RefUpdate[];
  findings: readonly PushFinding[];
  reason: string;
  waitMs: number;
  /** Unanswered proposals expire after this; a later push asks again. */
  proposalTimeoutMs?: number;
}

export async function requestPushException(req: ExceptionRequest): Promise<ExceptionOutcome> {
  const queue = new ProposalQueue(req.queueDir, req.bottle);
  const details = {
    repo: req.repo,
    updates: req.updates.map((u) => ({ ref: u.ref, old: u.old, new: u.new })),
    reason: req.reason,
    // Masked values only: the proposal is shown to the operator and written to the audit log.
    findings: req.findings.map((f) => ({ commit: f.commit, path: f.path, line: f.line, rule: f.rule, masked: f.masked })),
  };
  const proposal = await queue.submit('git-push-allow', details, { timeoutMs: req.proposalTimeoutMs ?? 24 * 3_600_000 });
  const entry = await queue.get(proposal.id);
  let answer = entry?.answer;
  if (answer?.status === 'approved' || answer?.status === 'modified') {
    // Marks the answer delivered, which is what makes the approval single-use.
    answer = await queue.wait(proposal.id, { timeoutMs: 1000 });
  } else if (!answer && req.waitMs > 0) {
    answer = await queue.wait(proposal.id, { timeoutMs: req.waitMs });
  }
  if (!answer) return { status: 'pending', id: proposal.id };
  if (answer.status === 'approved' || answer.status === 'modified') return { status: 'approved', id: proposal.id, by: answer.by };
  if (answer.status === 'timeout') return { status: 'pending', id: proposal.id };
  return { status: 'rejected', id: proposal.id, ...(answer.notes !== undefined ? { notes: answer.notes } : {}) };
}
