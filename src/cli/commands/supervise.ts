import { Option, type Command } from '@commander-js/extra-typings';
import { decide, type Decision, type DecideResult } from '../../supervise/decide.js';
import { ANSWER_SCOPES, isProposalId, listAllPending } from '../../supervise/queue.js';
import { summary } from '../../supervise/summary.js';
import { homePaths } from '../../state/paths.js';
import { CliError, type CliContext } from '../context.js';

export function registerSupervise(program: Command, ctx: CliContext): void {
  const supervise = program
    .command('supervise')
    .description("answer the bottles' proposals (route changes, image changes, DLP and push approvals)")
    .option('--once', 'print what is pending and exit instead of opening the console')
    .option('--json', 'with --once: print a JSON array')
    .action(async (opts) => {
      if (opts.json && !opts.once) throw new CliError('--json needs --once (the interactive console has no JSON mode)');
      if (opts.once) {
        const pending = await listAllPending(homePaths(ctx.home).queueRoot);
        if (opts.json) ctx.stdout(`${JSON.stringify(pending, null, 2)}\n`);
        else if (pending.length === 0) ctx.stdout('nothing pending\n');
        else ctx.stdout(pending.map((p) => `${p.id}  ${p.created_at}  ${p.slug}  ${p.kind}  ${summary(p)}\n`).join(''));
        return;
      }
      if (!ctx.isTTY) throw new CliError('the supervise console needs a terminal; use `supervise --once --json`, `supervise approve <id>` or `supervise reject <id> --reason TEXT`');
      // Loaded only here: ink and react are not needed by the non-interactive paths.
      const { runConsole } = await import('../../supervise/console/run.js');
      await runConsole(ctx.home);
    });

  supervise
    .command('approve')
    .description('approve a pending proposal and apply it')
    .argument('<id>')
    .option('--reason <text>', 'note returned to the agent and kept in the audit log')
    .addOption(
      new Option('--scope <scope>', 'egress-token-allow only: "bottle" allows the flagged values to that host for the rest of the bottle (the default), "once" lets this request through and asks again next time').choices(ANSWER_SCOPES),
    )
    .action(async (id, opts) => {
      report(ctx, await answer(ctx, id, { status: 'approved', ...(opts.scope !== undefined ? { scope: opts.scope } : {}), ...(opts.reason !== undefined ? { notes: opts.reason } : {}) }));
    });

  supervise
    .command('reject')
    .description('reject a pending proposal with a reason the agent sees')
    .argument('<id>')
    .requiredOption('--reason <text>', 'why (returned to the agent and kept in the audit log)')
    .action(async (id, opts) => {
      report(ctx, await answer(ctx, id, { status: 'rejected', notes: opts.reason }));
    });
}

async function answer(ctx: CliContext, id: string, decision: Decision): Promise<DecideResult> {
  if (!isProposalId(id)) throw new CliError(`"${id}" is not a proposal id (list them with: bot-bottle supervise --once)`);
  try {
    return await decide(ctx.home, id, decision);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

function report(ctx: CliContext, res: DecideResult): void {
  if (res.outcome === 'late') {
    ctx.stderr(`proposal ${res.proposal.id} had already timed out: your answer was recorded as late and not applied\n`);
    process.exitCode = 2;
    return;
  }
  const scope = res.answer.scope === 'once' ? ' (this request only)' : res.answer.scope === 'bottle' ? ' (these values to this host, for the rest of the bottle)' : '';
  ctx.stdout(`${res.proposal.id} (${res.proposal.slug}, ${res.proposal.kind}): ${res.answer.status}${scope}${res.applied.applied ? `. ${res.applied.summary}` : ''}\n`);
}
