import { userInfo } from 'node:os';
import { bottleStatePaths, homePaths } from '../state/paths.js';
import { fileBottleStores, type BottleStores } from '../state/store/index.js';
import { appendAudit } from './audit.js';
import { applyAnswer, checkApplicable, validateEdit, type ApplyResult } from './apply.js';
import { findProposal, type Answer, type AnswerOutcome, type AnswerScope, type Proposal } from './queue.js';

export interface Decision {
  status: 'approved' | 'modified' | 'rejected';
  /** Only for approving egress-token-allow: `once` lets this request through without remembering the values. */
  scope?: AnswerScope;
  notes?: string;
  /** The operator's edit; required for `modified`. */
  details?: Record<string, unknown>;
}

export type DecideResult =
  | { outcome: 'answered'; proposal: Proposal; answer: Answer; applied: ApplyResult }
  | { outcome: 'late'; proposal: Proposal; answer: Answer };

/** The name written to the audit log as "who". */
export function operatorName(env: NodeJS.ProcessEnv = process.env): string {
  const user = env.USER ?? env.LOGNAME ?? safeUser();
  return `operator:${user}`;
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/**
 * Answer one proposal and, if this answer won, apply it. Used by the console
 * and by `supervise approve|reject`, so both take exactly the same path.
 */
export async function decide(
  home: string,
  id: string,
  decision: Decision,
  by: string = operatorName(),
  storesFor: (slug: string) => BottleStores = (slug) => fileBottleStores(bottleStatePaths(slug, home)),
): Promise<DecideResult> {
  const found = await findProposal(homePaths(home).queueRoot, id);
  if (!found) throw new Error(`no proposal with id ${id} (list them with: bot-bottle supervise --once --json)`);
  const { queue, entry } = found;
  // A timed-out proposal still takes the answer, as a late record (audited, never applied).
  if (entry.answer && entry.answer.status !== 'timeout') throw new Error(`proposal ${id} was already answered: ${entry.answer.status} by ${entry.answer.by}`);
  let details: Record<string, unknown> | undefined;
  if (decision.status === 'modified') {
    if (!decision.details) throw new Error('a modified answer needs the edited details');
    details = validateEdit(entry.proposal, decision.details);
  }
  if (decision.status === 'rejected' && !decision.notes?.trim()) throw new Error('rejecting needs a reason (--reason TEXT)');
  if (decision.scope !== undefined && (decision.status !== 'approved' || entry.proposal.kind !== 'egress-token-allow')) {
    throw new Error(`"once" and "for this bottle" answer an egress-token-allow approval; proposal ${id} is ${entry.proposal.kind}`);
  }
  const stores = storesFor(entry.proposal.slug);
  if (decision.status !== 'rejected') await checkApplicable(entry.proposal, details ?? entry.proposal.details, stores);
  // An approval of flagged values says how far it reaches, so the audit log and egress agree.
  const scope = decision.scope ?? (decision.status === 'approved' && entry.proposal.kind === 'egress-token-allow' ? 'bottle' : undefined);
  const res: AnswerOutcome = await queue.answer(id, {
    status: decision.status,
    ...(scope !== undefined ? { scope } : {}),
    ...(decision.notes !== undefined ? { notes: decision.notes } : {}),
    ...(details !== undefined ? { details } : {}),
    by,
  });
  if (res.outcome === 'late') return { outcome: 'late', proposal: entry.proposal, answer: res.recorded };
  try {
    const applied = await applyAnswer(entry.proposal, res.answer, stores, queue.auditLog);
    return { outcome: 'answered', proposal: entry.proposal, answer: res.answer, applied };
  } catch (err) {
    // Checked beforehand, so only a change on disk in between lands here: say so loudly, and in the audit log.
    const message = (err as Error).message;
    await appendAudit(queue.auditLog, { event: 'apply-failed', by, slug: entry.proposal.slug, id, kind: entry.proposal.kind, error: message });
    throw new Error(`proposal ${id} was answered ${res.answer.status} but applying it failed: ${message}`, { cause: err });
  }
}
