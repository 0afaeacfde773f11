import { createInterface } from 'node:readline/promises';
import type { Backend, RunningBottle } from '../backends/types.js';
import { CliError, type CliContext } from '../cli/context.js';
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
import { askSecret } from '../cli/ask-secret.js';
import { ContainmentError, containmentGate, OPT_OUT_WARNING, recordSkipped } from '../containment/gate.js';

/**
 * Execute a plan: refuse on blocking warnings, confirm, resolve secrets,
 * create state, then hand the plan to the backend under a teardown stack that
 * unwinds everything on failure and when the agent ends. State is kept for
 * `resume`, or deleted with `--rm` (at-exit.ts).
 */
export async function launchPlan(plan: BottlePlan, backend: Backend, ctx: CliContext, opts: { confirm: boolean }): Promise<number> {
  const blocking = blockingWarnings(plan);
  if (blocking.length > 0) throw new CliError(`cannot launch ${plan.slug}:\n  ${blocking.join('\n  ')}`);
  if (!plan.containmentCheck.run) ctx.stderr(`bot-bottle: ${OPT_OUT_WARNING}\n`);
  if (opts.confirm && !(await confirm(ctx, 'Launch this bottle? [y/N] '))) {
    ctx.stderr('bot-bottle: not launched\n');
    return 1;
  }
  trace('plan ready');
  const secrets = await resolveSecrets(plan, { hostEnv: ctx.env, ...(ctx.isTTY ? { prompt: (q: string) => askSecret(q) } : {}) });
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
      running = await teardown.guard(async (stack) => {
        stack.defer('close containment canaries', () => containment.dispose());
        const started = await backend.launch(plan, { teardown: stack, secrets, log, home: ctx.home, hostEnv: ctx.env, interactive, containment });
        // Fail closed: a backend that forgot the self-test does not get to hand the bottle over.
        if (containment.enabled && !containment.verified) throw new ContainmentError(`the ${backend.name} backend started ${plan.slug} without the containment check; refusing to hand it over`);
        return started;
      });
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

async function confirm(ctx: CliContext, question: string): Promise<boolean> {
  if (!ctx.isTTY) throw new CliError('refusing to launch without confirmation: no terminal (use --headless for unattended runs)');
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
