import { createInterface } from 'node:readline/promises';
import type { Backend, RunningBottle } from './boundary.js';
import { LaunchError } from './errors.js';
import type { BottlePlan } from '../plan/types.js';
import { blockingWarnings } from '../plan/warnings.js';
import { prepareState } from './prepare.js';
import { resolveSecrets } from './secrets.js';
import { startFailure } from './start-failure.js';
import { TeardownStack } from './teardown.js';
import { slugTaken } from '../state/metadata.js';
import { BottleEnd } from './bottle-end.js';
import { settleState } from './at-exit.js';
import { trace } from '../util/trace.js';
import { ContainmentError, containmentGate, OPT_OUT_WARNING, recordSkipped } from '../containment/gate.js';
import { launchBottle } from './orchestrate.js';
import { discardPrespawnedBundle } from './prespawn.js';

/** What a launch needs from whoever starts it (the CLI): its home, cwd and environment, a terminal or not. */
export interface LaunchHost {
  home: string;
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  isTTY: boolean;
  stderr: (text: string) => void;
  /** Asks for a prompted secret without echoing it (only on a terminal). */
  askSecret?: (question: string) => Promise<string>;
}

/**
 * Execute a plan: refuse on blocking warnings, confirm, resolve secrets,
 * create state, then run the launch sequence (orchestrate.ts) with the
 * backend's boundary under a teardown stack that unwinds everything on
 * failure and when the agent ends. State is kept for
 * `resume`, or deleted with `--rm` (at-exit.ts).
 */
export async function launchPlan(plan: BottlePlan, backend: Backend, ctx: LaunchHost, opts: { confirm: boolean }): Promise<number> {
  const blocking = blockingWarnings(plan);
  if (blocking.length > 0) throw new LaunchError(`cannot launch ${plan.slug}:\n  ${blocking.join('\n  ')}`);
  if (!plan.containmentCheck.run) ctx.stderr(`bot-bottle: ${OPT_OUT_WARNING}\n`);
  if (opts.confirm && !(await confirm(ctx, 'Launch this bottle? [y/N] '))) {
    ctx.stderr('bot-bottle: not launched\n');
    return 1;
  }
  trace('plan ready');
  const secrets = await resolveSecrets(plan, { hostEnv: ctx.env, ...(ctx.isTTY && ctx.askSecret ? { prompt: ctx.askSecret } : {}) });
  const report = (f: { label: string; error: unknown }): void => ctx.stderr(`bot-bottle: teardown step "${f.label}" failed: ${f.error instanceof Error ? f.error.message : String(f.error)}\n`);
  const teardown = new TeardownStack(report);
  // What this start creates on disk, undone only if the start fails (a bottle that ran keeps its state).
  const created = new TeardownStack(report);
  const resumed = slugTaken(ctx.home, plan.slug);
  const interactive = plan.mode.kind === 'interactive';
  const log = (m: string): void => ctx.stderr(`${m}\n`);
  const containment = containmentGate({ plan, secrets, hostEnv: ctx.env, home: ctx.home, log });
  const end = new BottleEnd(plan.slug, interactive, teardown, ctx);
  if (plan.removeAtExit && !interactive) log(`bot-bottle: --rm: ${plan.slug}'s state, workspace included, is deleted when it stops`);
  let ran = false;
  try {
    let running: RunningBottle;
    try {
      await prepareState(plan, ctx.home, ctx.cwd, created, log);
      trace('state prepared');
      if (!plan.containmentCheck.run) recordSkipped(plan.slug, ctx.home, plan.containmentCheck.reason);
      running = await teardown.guard((stack) => launchBottle(plan, backend, { teardown: stack, secrets, log, home: ctx.home, hostEnv: ctx.env, interactive, containment }));
      // A backend whose bundle does not run on this host left the CLI's early one idle (prespawn.ts).
      discardPrespawnedBundle();
    } catch (err) {
      // guard() has unwound the backend's resources; now what the start created on disk. A bottle
      // refused by its containment check keeps its state: the record says which check failed (`info`),
      // and `resume` retries once the host is fixed.
      if (!(err instanceof ContainmentError)) await created.unwind();
      throw startFailure(err, { slug: plan.slug, home: ctx.home, resumed });
    }
    ran = true;
    end.watch(running.failed);
    trace('agent started');
    const code = await running.exited;
    trace('agent exited');
    return end.code ?? code;
  } finally {
    try {
      const failures = await teardown.unwind();
      trace('torn down');
      // Still listening: a second stop signal while --rm deletes must not kill the CLI half-way.
      if (ran) await settleState(plan, ctx.home, failures.length > 0, log);
    } finally {
      end.dispose();
    }
  }
}

async function confirm(ctx: LaunchHost, question: string): Promise<boolean> {
  if (!ctx.isTTY) throw new LaunchError('refusing to launch without confirmation: no terminal (use --headless for unattended runs)');
  return /^y(es)?$/i.test((await ask(question)).trim());
}

async function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}
