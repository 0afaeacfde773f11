import { askSecret } from '../ask-secret.js';
import type { Command } from '@commander-js/extra-typings';
import { allBackends, selectBackend } from '../../backends/select.js';
import { launchPlan } from '../../launch/launch.js';
import { ManifestCatalog } from '../../manifest/catalog.js';
import { bottlesWithClaudeSession } from '../../plan/claude.js';
import { resolvePlan } from '../../plan/resolve.js';
import { SlugError } from '../../plan/slug.js';
import type { BottlePlan } from '../../plan/types.js';
import { readMetadata } from '../../state/metadata.js';
import { bottleStatePaths } from '../../state/paths.js';
import { fileBottleStores } from '../../state/store/index.js';
import { slugArg, textArg } from '../arg-checks.js';
import { CliError, type CliContext } from '../context.js';
import { renderPlan } from '../render-plan.js';

/** The slug and the state folder are hostile input: a bad one is a clear error, never a path. */
function readState(home: string, slug: string): ReturnType<typeof readMetadata> {
  try {
    return readMetadata(home, slug);
  } catch (err) {
    if (err instanceof SlugError) throw err;
    throw new CliError(`cannot resume ${slug}: ${(err as Error).message}`);
  }
}

export function registerResume(program: Command, ctx: CliContext): void {
  program
    .command('resume')
    .description('relaunch a stopped bottle from its saved state (same agent, bottles, backend, workspace and approved routes)')
    .argument('<slug>')
    .option('--dry-run', 'print the plan and create nothing', false)
    .option('--headless', 'run without a terminal UI: deliver --prompt and exit with the agent\'s code', false)
    .option('--prompt <text>', 'the task for a --headless run')
    .option('--rm', 'delete the bottle\'s state, workspace included, when it stops (default: kept for resume)', false)
    .option('--no-containment-check', 'do NOT prove the bottle\'s isolation from inside before the agent starts (warns every time)')
    .option('--session <id>', 'continue this conversation of the agent (a Claude Code session id) instead of its latest')
    .action(async (slug, opts) => {
      if (opts.headless && opts.prompt === undefined) throw new CliError('--headless needs --prompt TEXT');
      if (opts.session !== undefined && !bottlesWithClaudeSession(ctx.home, opts.session).includes(slug)) {
        throw new CliError(`bottle ${slug} holds no Claude conversation ${JSON.stringify(opts.session)}`);
      }
      if (opts.prompt !== undefined && !opts.headless) throw new CliError('--prompt is only used with --headless');
      slugArg(slug);
      if (opts.prompt !== undefined) textArg(opts.prompt, '--prompt');
      const meta = readState(ctx.home, slug);
      const backends = allBackends();
      const statuses = await backends[meta.backend as BottlePlan['backend']].list(ctx.home).catch((err: unknown) => {
        throw new CliError(`cannot tell whether ${slug} is running: ${err instanceof Error ? err.message : String(err)}`);
      });
      const running = statuses.find((s) => s.slug === slug && s.running);
      if (running) throw new CliError(`bottle ${slug} is already running (${running.detail ?? meta.backend})`);
      const selection = await selectBackend({ flag: meta.backend, env: ctx.env, backends, requireAvailable: !opts.dryRun });
      // Manifests are read again from where the bottle was started: a repo agent comes from that repo.
      const catalog = new ManifestCatalog({ home: ctx.home, cwd: meta.cwd });
      const plan = resolvePlan(catalog, {
        agent: meta.agent,
        bottles: meta.bottles,
        backend: selection.backend.name,
        backendReason: `recorded in ${slug}'s state`,
        slug,
        label: meta.label,
        color: meta.color,
        cwd: meta.cwd,
        copyCwd: meta.copy_cwd,
        mode: opts.headless ? { kind: 'headless', prompt: opts.prompt ?? '' } : { kind: 'interactive' },
        home: ctx.home,
        hostEnv: ctx.env,
        resume: true,
        containmentCheck: opts.containmentCheck,
        removeAtExit: opts.rm,
        session: opts.session,
        // docker: a committed bottle's agent boots from its snapshot (agentImageFor checks it is still that image).
        snapshot: meta.snapshot ? { image: meta.snapshot.image, id: meta.snapshot.id, committedAt: meta.snapshot.committed_at } : undefined,
      });
      const boundary = await selection.backend.planBoundary?.(plan, { home: ctx.home, env: ctx.env });
      if (boundary !== undefined) plan.boundary = boundary;
      const paths = bottleStatePaths(slug, ctx.home);
      const approved = await fileBottleStores(paths).approvals.readCapabilities().catch((err: unknown) => {
        throw new CliError((err as Error).message);
      });
      if (approved.length > 0) ctx.stderr(`note: approved capability changes are recorded in ${paths.approvedCapabilities}; the ${plan.backend} backend applies them when it builds the agent's image\n`);
      if (opts.dryRun) {
        ctx.stdout(renderPlan(plan));
        return;
      }
      if (!opts.headless) ctx.stderr(renderPlan(plan));
      process.exitCode = await launchPlan(plan, selection.backend, { ...ctx, cwd: meta.cwd, askSecret }, { confirm: !opts.headless });
    });
}
