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
import { CliError, type CliContext } from '../context.js';

interface Step {
  describe: string;
  run: () => void;
}

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

/**
 * Finds what stopped or crashed bottles left behind and removes it after one
 * combined confirmation. Running bottles are never touched; a stopped
 * bottle's state (its workspace!) is only removed with --state.
 */
export function registerCleanup(program: Command, ctx: CliContext): void {
  program
    .command('cleanup')
    .description('remove what stopped or crashed bottles left behind (runtime files, orphan bundles); --state also deletes stopped bottles\' state')
    .option('--state', 'also delete the state (workspace, metadata, queue) of stopped bottles', false)
    .option('--yes', 'do not ask for confirmation', false)
    .action(async (opts) => {
      const steps: Step[] = [];
      // Removals never follow a link out of the state (safe-fs.ts): the state folder is hostile input.
      const { stateRoot, queueRoot } = homePaths(ctx.home);
      for (const slug of knownSlugs(ctx.home)) {
        const paths = bottleStatePaths(slug, ctx.home);
        const { running, steps: stopSteps } = orphanProcesses(slug, ctx);
        if (running) continue;
        steps.push(...stopSteps);
        if (existsSync(paths.runDir)) steps.push({ describe: `remove runtime files of ${slug} (${paths.runDir})`, run: () => removeTree(stateRoot, paths.runDir) });
        for (const stage of stagingFolders(slug)) {
          steps.push({ describe: `remove staging folder ${stage}`, run: () => removeTree(STAGE_ROOT, stage) });
        }
        if (opts.state) {
          steps.push({ describe: `delete state of stopped bottle ${slug} (workspace included) and its queue`, run: () => {
            removeTree(stateRoot, paths.dir);
            removeTree(queueRoot, queueDir(slug, ctx.home));
          } });
        } else if (workspaceLent(paths.workspace)) {
          steps.push({ describe: `give the workspace of ${slug} back to its owner (a root-run bottle that did not stop cleanly)`, run: () => returnWorkspace(paths.workspace) });
        }
      }
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
      for (const step of steps) step.run();
      ctx.stdout(`done (${steps.length} step${steps.length === 1 ? '' : 's'})\n`);
    });
}
