import type { Command } from '@commander-js/extra-typings';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { STAGE_ROOT } from '../../backends/bwrap/root-staging.js';
import { returnWorkspace, workspaceLent } from '../../backends/bwrap/ownership.js';
import { removeTree } from '../../util/safe-fs.js';
import { bottleRunning, pidsFile, readPids, staleNote } from '../../state/pids.js';
import { processState, signalProcess } from '../../state/process-identity.js';
import { knownSlugs } from '../../state/metadata.js';
import { bottleStatePaths, homePaths, queueDir } from '../../state/paths.js';
import { bottleUsage, formatAge, formatBytes, parseAge, type BottleUsage } from '../../state/usage.js';
import { CliError, type CliContext } from '../context.js';
import type { Step } from './cleanup-docker.js';
import { standbyDir, standbySockets, stopStandbys } from '../../launch/standby.js';

/** Root-run bwrap bottles stage their folders under /run/bot-bottle/<slug>-XXXXXX. */
function stagingFolders(slug: string): string[] {
  if (!existsSync(STAGE_ROOT)) return [];
  return readdirSync(STAGE_ROOT)
    .filter((name) => name.startsWith(`${slug}-`) && /^[A-Za-z0-9]{6}$/.test(name.slice(slug.length + 1)))
    .map((name) => join(STAGE_ROOT, name));
}

/**
 * Whether the bottle still runs (its CLI or sandbox, identity-checked), and if
 * not, the step that stops a bundle it left behind. A pid whose process is
 * now another one, or a pids file that fails validation, is reported and
 * never signalled.
 */
function orphanProcesses(slug: string, ctx: CliContext): { running: boolean; steps: Step[] } {
  const read = readPids(pidsFile(slug, ctx.home));
  if (!read) return { running: false, steps: [] };
  if ('problem' in read) {
    ctx.stderr(`bot-bottle: ${read.problem}: its processes are not signalled\n`);
    return { running: false, steps: [] };
  }
  const { pids } = read;
  if (bottleRunning(pids)) return { running: true, steps: [] };
  const bundle = pids.sidecars;
  if (!bundle) return { running: false, steps: [] };
  const state = processState(bundle, pids.boot);
  if (state === 'stale') ctx.stderr(`bot-bottle: ${staleNote('sidecars', bundle, slug)}\n`);
  if (state !== 'alive') return { running: false, steps: [] };
  return {
    running: false,
    steps: [{
      describe: `stop orphan sidecar bundle of ${slug} (pid ${bundle.pid})`,
      // Checked again: the confirmation may have taken a while.
      run: () => {
        if (signalProcess(bundle, pids.boot, 'SIGTERM') === 'stale') ctx.stderr(`bot-bottle: ${staleNote('sidecars', bundle, slug)}\n`);
      },
    }],
  };
}

/** `cleanup --state` deletes stopped bottles unused for this long, unless told otherwise. */
const DEFAULT_AGE = '7d';

/**
 * Finds what stopped or crashed bottles left behind and removes it after one
 * combined confirmation. Running bottles are never touched. A stopped
 * bottle's state (its workspace!) is deleted only when the operator asked:
 * with --state (by default only bottles unused for 7 days; --older-than,
 * --all), or at its start with --rm (its CLI died before deleting it).
 * Without --state, what stopped bottles hold is reported, never deleted.
 */
export function registerCleanup(program: Command, ctx: CliContext): void {
  program
    .command('cleanup')
    .description('remove what stopped or crashed bottles left behind (runtime files, orphan bundles, docker containers, networks and firewall rules, bottles started with --rm); --state also deletes stopped bottles\' state')
    .option('--state', `also delete the state (workspace, metadata, queue) of stopped bottles unused for ${DEFAULT_AGE} (see --older-than, --all)`, false)
    .option('--older-than <age>', `with --state: bottles last started or stopped longer ago than AGE (7d, 12h, 30m; default ${DEFAULT_AGE})`)
    .option('--all', 'with --state: every stopped bottle, whatever its age', false)
    .option('--yes', 'do not ask for confirmation', false)
    .action(async (opts) => {
      if ((opts.olderThan !== undefined || opts.all) && !opts.state) throw new CliError('--older-than and --all choose which state --state deletes: add --state');
      if (opts.olderThan !== undefined && opts.all) throw new CliError('--older-than and --all exclude each other');
      const maxAge = opts.all ? 0 : parseAge(opts.olderThan ?? DEFAULT_AGE);
      if (maxAge === undefined) throw new CliError(`--older-than takes an age like 7d, 12h or 30m (or 0), not "${opts.olderThan ?? ''}"`);
      const steps: Step[] = [];
      const kept: Array<{ slug: string; usage: BottleUsage }> = [];
      const now = Date.now();
      // Removals never follow a link out of the state (safe-fs.ts): the state folder is hostile input.
      const { stateRoot, queueRoot } = homePaths(ctx.home);
      // Loaded here, not with the program: the other commands (a launch above all) never need them.
      const [{ smolmachinesCleanupSteps }, { DockerCleanup }] = await Promise.all([import('./cleanup-smolmachines.js'), import('./cleanup-docker.js')]);
      const smolmachines = await smolmachinesCleanupSteps(ctx);
      const docker = await DockerCleanup.open(ctx);
      const slugs = knownSlugs(ctx.home);
      for (const slug of slugs) {
        const paths = bottleStatePaths(slug, ctx.home);
        const { running, steps: stopSteps } = orphanProcesses(slug, ctx);
        if (running) continue;
        steps.push(...stopSteps);
        // Before the run folder goes: these steps read the CLI's pids record again when they run.
        steps.push(...smolmachines(slug));
        if (docker) steps.push(...(await docker.orphanSteps(slug)));
        if (existsSync(paths.runDir)) steps.push({ describe: `remove runtime files of ${slug} (${paths.runDir})`, run: () => removeTree(stateRoot, paths.runDir) });
        for (const stage of stagingFolders(slug)) {
          steps.push({ describe: `remove staging folder ${stage}`, run: () => removeTree(STAGE_ROOT, stage) });
        }
        const usage = usageOf(ctx, slug);
        const age = usage ? now - usage.lastUsed.getTime() : Infinity;
        const why = usage?.meta?.remove_at_exit === true ? 'started with --rm' : opts.state && age >= maxAge ? (usage ? `last used ${formatAge(age)} ago` : 'damaged') : undefined;
        if (why !== undefined) {
          const size = usage ? `, ${formatBytes(usage.bytes)}` : '';
          steps.push({ describe: `delete state of stopped bottle ${slug} (${why}${size}; workspace included) and its queue`, run: () => {
            removeTree(stateRoot, paths.dir);
            removeTree(queueRoot, queueDir(slug, ctx.home));
          } });
          if (docker) steps.push(...docker.snapshotSteps(slug));
          continue;
        }
        if (usage) kept.push({ slug, usage });
        if (workspaceLent(paths.workspace)) {
          steps.push({ describe: `give the workspace of ${slug} back to its owner (a root-run bottle that did not stop cleanly)`, run: () => returnWorkspace(paths.workspace) });
        }
      }
      if (docker) steps.push(...docker.strandedSnapshotSteps(slugs), ...(await docker.standbySteps()));
      const standbys = standbySockets(ctx.home).length;
      if (standbys > 0) {
        steps.push({ describe: `stop the standby sidecar bundle${standbys === 1 ? '' : 's'} waiting for the next launch (${standbys}, ${standbyDir(ctx.home)})`, run: async () => void (await stopStandbys(ctx.home)) });
      }
      if (kept.length > 0) ctx.stderr(`${keptNote(kept, now, opts.state)}\n`);
      if (steps.length === 0) {
        ctx.stdout('nothing to clean up\n');
        return;
      }
      ctx.stdout(`${steps.map((s) => `  ${s.describe}`).join('\n')}\n`);
      if (!opts.yes) {
        if (!ctx.isTTY) throw new CliError('cleanup needs confirmation: run it on a terminal or pass --yes');
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        const answer = await rl.question('Proceed? [y/N] ').finally(() => rl.close());
        if (!/^y(es)?$/i.test(answer.trim())) {
          ctx.stdout('nothing removed\n');
          return;
        }
      }
      for (const step of steps) await step.run();
      ctx.stdout(`done (${steps.length} step${steps.length === 1 ? '' : 's'})\n`);
    });
}

/** What the stopped bottles that stay hold, and how to delete the old ones: nothing is deleted silently. */
function keptNote(kept: Array<{ slug: string; usage: BottleUsage }>, now: number, withState: boolean): string {
  const bytes = kept.reduce((sum, k) => sum + k.usage.bytes, 0);
  const old = kept.filter((k) => now - k.usage.lastUsed.getTime() >= parseAge(DEFAULT_AGE)!);
  const head = `note: ${kept.length} stopped bottle${kept.length === 1 ? '' : 's'} keep${kept.length === 1 ? 's' : ''} ${formatBytes(bytes)} of state (workspaces included) for \`resume\``;
  if (withState) return `${head}; \`bot-bottle cleanup --state --all\` deletes every stopped bottle`;
  return old.length > 0
    ? `${head}; ${old.length} unused for ${DEFAULT_AGE} or more: \`bot-bottle cleanup --state\` deletes those`
    : `${head}; \`bot-bottle cleanup --state\` deletes those unused for ${DEFAULT_AGE}`;
}

/** Age and size, or undefined when the folder vanished or cannot be read (it is then only damaged state). */
function usageOf(ctx: CliContext, slug: string): BottleUsage | undefined {
  try {
    return bottleUsage(ctx.home, slug);
  } catch (err) {
    ctx.stderr(`bot-bottle: cannot read the state of ${slug}: ${(err as Error).message}\n`);
    return undefined;
  }
}
