import { createInterface } from 'node:readline/promises';
import type { Backend } from '../backends/types.js';
import { CliError, type CliContext } from '../cli/context.js';
import type { BottlePlan } from '../plan/types.js';
import { TeardownStack } from './teardown.js';

/**
 * Execute a plan: refuse on blocking warnings, confirm, then hand the plan to
 * the backend under a teardown stack that unwinds everything on failure.
 */
export async function launchPlan(plan: BottlePlan, backend: Backend, ctx: CliContext, opts: { confirm: boolean }): Promise<number> {
  const blocking = plan.warnings.filter((w) => w.endsWith('launch will fail'));
  if (blocking.length > 0) throw new CliError(`cannot launch ${plan.slug}:\n  ${blocking.join('\n  ')}`);
  if (opts.confirm && !(await confirm(ctx, 'Launch this bottle? [y/N] '))) {
    ctx.stderr('bot-bottle: not launched\n');
    return 1;
  }
  const teardown = new TeardownStack((f) => ctx.stderr(`bot-bottle: teardown step "${f.label}" failed: ${String(f.error)}\n`));
  const running = await teardown.guard((stack) =>
    backend.launch(plan, { teardown: stack, secrets: { agentEnv: {}, sidecarEnv: {} }, log: (m) => ctx.stderr(`${m}\n`) }),
  );
  try {
    return await running.exited;
  } finally {
    await teardown.unwind();
  }
}

async function confirm(ctx: CliContext, question: string): Promise<boolean> {
  if (!ctx.isTTY) throw new CliError('refusing to launch without confirmation: no terminal (use --headless for unattended runs)');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}
