import { askSecret } from '../ask-secret.js';
import { Option, type Command } from '@commander-js/extra-typings';
import { selectBackend } from '../../backends/select.js';
import { launchPlan } from '../../launch/launch.js';
import { ManifestCatalog } from '../../manifest/catalog.js';
import { resolvePlan } from '../../plan/resolve.js';
import { allocateSlug, parseColor } from '../../plan/slug.js';
import type { BottlePlan } from '../../plan/types.js';
import { slugTaken } from '../../state/metadata.js';
import { nameArg, textArg } from '../arg-checks.js';
import { CliError, type CliContext } from '../context.js';
import { renderPlan } from '../render-plan.js';
import { trace } from '../../util/trace.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerStart(program: Command, ctx: CliContext): void {
  program
    .command('start')
    .description('start an agent in a new bottle')
    .argument('[agent]', 'agent name (from ~/.bot-bottle/agents or ./.bot-bottle/agents)')
    .option('--bottle <name>', 'bottle to use (repeatable; merged in order); default: the agent\'s `bottle:`', collect, [] as string[])
    .option('--backend <name>', 'bwrap, docker or smolmachines (default: $BOT_BOTTLE_BACKEND, else auto-detect)')
    .option('--cwd', 'copy the current directory into the bottle as its workspace', false)
    .option('--label <label>', 'name for the bottle (used as its slug)')
    .option('--color <color>', 'ANSI colour name for the label')
    .option('--dry-run', 'print the plan and create nothing', false)
    .addOption(new Option('--format <format>', 'dry-run output format').choices(['text', 'json'] as const).default('text' as const))
    .option('--headless', 'run without a terminal UI: deliver --prompt, print the output, exit with the agent\'s code', false)
    .option('--prompt <text>', 'the task for a --headless run')
    .option('--rm', 'delete the bottle\'s state, workspace included, when it stops (default: kept for resume)', false)
    .option('--no-containment-check', 'do NOT prove the bottle\'s isolation from inside before the agent starts (warns every time)')
    .action(async (agentArg, opts) => {
      if (opts.headless && opts.prompt === undefined) throw new CliError('--headless needs --prompt TEXT');
      if (opts.prompt !== undefined && !opts.headless) throw new CliError('--prompt is only used with --headless');
      if (opts.format === 'json' && !opts.dryRun) throw new CliError('--format json is only used with --dry-run');
      if (agentArg !== undefined) nameArg(agentArg, 'agent', 'agent');
      for (const bottle of opts.bottle) nameArg(bottle, '--bottle', 'bottle');
      if (opts.prompt !== undefined) textArg(opts.prompt, '--prompt');
      trace('cli parsed');
      const catalog = new ManifestCatalog({ home: ctx.home, cwd: ctx.cwd });
      const agent = agentArg ?? pickAgentOrFail(catalog);
      const color = opts.color !== undefined ? parseColor(opts.color) : undefined;
      const selection = await selectBackend({ flag: opts.backend, env: ctx.env, requireAvailable: !opts.dryRun });
      trace(`backend selected: ${selection.backend.name}`);
      const slug = allocateSlug({ label: opts.label, agent, taken: (s) => slugTaken(ctx.home, s) });
      const mode: BottlePlan['mode'] = opts.headless ? { kind: 'headless', prompt: opts.prompt ?? '' } : { kind: 'interactive' };
      const plan = resolvePlan(catalog, {
        agent,
        bottles: opts.bottle,
        backend: selection.backend.name,
        backendReason: selection.reason,
        slug,
        label: opts.label,
        color,
        cwd: ctx.cwd,
        copyCwd: opts.cwd,
        mode,
        home: ctx.home,
        hostEnv: ctx.env,
        containmentCheck: opts.containmentCheck,
        removeAtExit: opts.rm,
      });
      const boundary = await selection.backend.planBoundary?.(plan, { home: ctx.home, env: ctx.env });
      if (boundary !== undefined) plan.boundary = boundary;
      if (opts.dryRun) {
        ctx.stdout(opts.format === 'json' ? `${JSON.stringify(plan, null, 2)}\n` : renderPlan(plan));
        return;
      }
      if (!opts.headless) ctx.stderr(renderPlan(plan));
      else ctx.stderr(`bot-bottle: backend ${plan.backend} (${plan.backendReason})\n`);
      process.exitCode = await launchPlan(plan, selection.backend, { ...ctx, askSecret }, { confirm: !opts.headless });
    });
}

function pickAgentOrFail(catalog: ManifestCatalog): string {
  const names = catalog.agents().map((a) => a.name);
  throw new CliError(
    names.length > 0 ? `name an agent to start; available: ${names.join(', ')}` : 'no agents yet: `bot-bottle init --examples` installs the examples',
  );
}
