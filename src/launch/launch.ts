import { createInterface } from 'node:readline/promises';
import type { Backend } from '../backends/types.js';
import { CliError, type CliContext } from '../cli/context.js';
import type { BottlePlan } from '../plan/types.js';
import { prepareState } from './prepare.js';
import { resolveSecrets } from './secrets.js';
import { TeardownStack } from './teardown.js';
import { trace } from '../util/trace.js';
import { askSecret } from '../cli/ask-secret.js';

/**
 * Execute a plan: refuse on blocking warnings, confirm, resolve secrets,
 * create state, then hand the plan to the backend under a teardown stack that
 * unwinds everything on failure and when the agent ends. State is kept for
 * `resume`.
 */
export async function launchPlan(plan: BottlePlan, backend: Backend, ctx: CliContext, opts: { confirm: boolean }): Promise<number> {
  const blocking = plan.warnings.filter((w) => w.endsWith('launch will fail'));
  if (blocking.length > 0) throw new CliError(`cannot launch ${plan.slug}:\n  ${blocking.join('\n  ')}`);
  if (opts.confirm && !(await confirm(ctx, 'Launch this bottle? [y/N] '))) {
    ctx.stderr('bot-bottle: not launched\n');
    return 1;
  }
  trace('plan ready');
  const secrets = await resolveSecrets(plan, { hostEnv: ctx.env, ...(ctx.isTTY ? { prompt: (q: string) => askSecret(q) } : {}) });
  await prepareState(plan, ctx.home, ctx.cwd);
  trace('state prepared');
  const teardown = new TeardownStack((f) => ctx.stderr(`bot-bottle: teardown step "${f.label}" failed: ${f.error instanceof Error ? f.error.message : String(f.error)}\n`));
  const interactive = plan.mode.kind === 'interactive';
  const running = await teardown.guard((stack) =>
    backend.launch(plan, { teardown: stack, secrets, log: (m) => ctx.stderr(`${m}\n`), home: ctx.home, hostEnv: ctx.env, interactive }),
  );
  // While attached, Ctrl-C belongs to the agent; headless, it stops the bottle.
  let interrupted = false;
  const onSignal = (): void => {
    if (interactive) return;
    interrupted = true;
    void teardown.unwind();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  trace('agent started');
  try {
    const code = await running.exited;
    return interrupted ? 130 : code;
  } finally {
    trace('agent exited');
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await teardown.unwind();
    trace('torn down');
    ctx.stderr(`bot-bottle: ${plan.slug} stopped; its state is kept: \`bot-bottle resume ${plan.slug}\` continues it\n`);
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
