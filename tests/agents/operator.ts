import { expect } from 'vitest';
import { listAllPending } from '../../src/supervise/queue.js';
import { homePaths } from '../../src/state/paths.js';
import type { BottleRun } from '../support/bottle-run.js';

/**
 * The operator in another terminal while a headless agent runs: waits
 * (bounded) until the agent asks for `kind` through supervise, runs
 * `whileWaiting` (the agent is held on the question, so its bottle is up),
 * then approves with the CLI. Resolves with what `whileWaiting` returned, or
 * undefined when nothing was asked before `limitMs`.
 */
export async function approveWhenAsked<T>(opts: {
  home: string;
  kind: string;
  cli: (args: string[]) => Promise<BottleRun>;
  whileWaiting?: () => Promise<T>;
  limitMs?: number;
}): Promise<{ seen: T | undefined } | undefined> {
  const until = Date.now() + (opts.limitMs ?? 60_000);
  while (Date.now() < until) {
    const pending = await listAllPending(homePaths(opts.home).queueRoot);
    const ask = pending.find((p) => p.kind === opts.kind);
    if (ask) {
      const seen = opts.whileWaiting ? await opts.whileWaiting() : undefined;
      const answer = await opts.cli(['supervise', 'approve', ask.id]);
      expect(answer.exitCode, answer.stderr).toBe(0);
      return { seen };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}
