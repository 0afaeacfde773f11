import { removeLeftovers, smolmachinesOrphans } from '../../backends/smolmachines/operations.js';
import { launchingCli } from '../../state/launching-cli.js';
import { smolvmRunner } from '../../backends/smolmachines/smolvm.js';
import { findOnPath } from '../../backends/probe.js';
import { CliError, type CliContext } from '../context.js';

/**
 * What `cleanup` removes for smolmachines bottles whose launching CLI is gone
 * (its pids record, identity-checked, says so; a SIGKILLed launch leaves
 * exactly these): the machine, the bundle's container and its networks.
 * Without smolvm on PATH there is nothing of smolmachines to clean.
 */
export async function smolmachinesCleanupSteps(ctx: CliContext): Promise<(slug: string) => Array<{ describe: string; run: () => Promise<void> }>> {
  const binary = findOnPath('smolvm', ctx.env.PATH);
  if (binary === undefined) return () => [];
  const run = smolvmRunner({ binary, env: ctx.env });
  let orphans: string[];
  try {
    orphans = await smolmachinesOrphans(run, ctx.home);
  } catch (err) {
    ctx.stderr(`bot-bottle: smolmachines bottles are not checked: ${err instanceof Error ? err.message : String(err)}\n`);
    return () => [];
  }
  return (slug) =>
    orphans.includes(slug)
      ? [{
          describe: `remove the smolvm machine, bundle container and networks of ${slug} (its CLI is gone)`,
          run: async () => {
            // Checked again: a `resume` may have started it while the operator confirmed.
            if (launchingCli(slug, ctx.home).state !== 'gone') {
              ctx.stderr(`bot-bottle: ${slug} was started again meanwhile: its machine is kept\n`);
              return;
            }
            const { failures } = await removeLeftovers(run, slug);
            if (failures.length > 0) throw new CliError(`could not remove everything of ${slug}:\n  ${failures.join('\n  ')}`);
          },
        }]
      : [];
}
