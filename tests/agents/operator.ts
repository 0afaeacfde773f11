import { homePaths } from '../../src/state/paths.js';
import { listAllPending, listQueues, type Proposal, type ProposalKind, type QueueEntry } from '../../src/supervise/queue.js';
import type { BottleRun } from '../support/bottle-run.js';

/** What a rig offers the operator: its home and the CLI in it. */
interface OperatorRig {
  home: string;
  cli(args: string[]): Promise<BottleRun>;
}

/**
 * The operator in another terminal while `run` goes on: every proposal of
 * `kind` that shows up is approved with `bot-bottle supervise approve`
 * (after `delayMs`, to hold a request a while), until the run ends or
 * `limitMs` passes. Resolves with the proposals approved.
 */
export async function approveWhileRunning(rig: OperatorRig, run: Promise<BottleRun>, kind: ProposalKind, opts: { delayMs?: number; limitMs?: number; extra?: string[] } = {}): Promise<Proposal[]> {
  let ended = false;
  void run.finally(() => (ended = true));
  const approved: Proposal[] = [];
  const until = Date.now() + (opts.limitMs ?? 120_000);
  while (!ended && Date.now() < until) {
    const ask = (await listAllPending(homePaths(rig.home).queueRoot)).find((p) => p.kind === kind && !approved.some((a) => a.id === p.id));
    if (!ask) {
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
    const answer = await rig.cli(['supervise', 'approve', ask.id, ...(opts.extra ?? [])]);
    if (answer.exitCode !== 0) throw new Error(`approving ${ask.id} failed: ${answer.stderr}`);
    approved.push(ask);
  }
  return approved;
}

/** Every proposal any bottle of the home made, answered or not. */
export async function allProposals(home: string): Promise<QueueEntry[]> {
  const out: QueueEntry[] = [];
  for (const q of await listQueues(homePaths(home).queueRoot)) out.push(...(await q.list()));
  return out;
}
