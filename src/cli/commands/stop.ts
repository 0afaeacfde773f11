import type { Command } from '@commander-js/extra-typings';
import { allBackends } from '../../backends/select.js';
import type { BottlePlan } from '../../plan/types.js';
import { readMetadata, slugTaken } from '../../state/metadata.js';
import { slugArg } from '../arg-checks.js';
import { CliError, type CliContext } from '../context.js';

export function registerStop(program: Command, ctx: CliContext): void {
  program
    .command('stop')
    .description('stop a running bottle from another terminal: its agent, sandbox and sidecars (the terminal that started it gets its prompt back)')
    .argument('<slug>', 'the bottle (see `bot-bottle list active`)')
    .action(async (value) => {
      const slug = slugArg(value);
      if (!slugTaken(ctx.home, slug)) throw new CliError(`no bottle named ${slug} (see \`bot-bottle list active\`)`);
      let backendName: BottlePlan['backend'];
      try {
        backendName = readMetadata(ctx.home, slug).backend as BottlePlan['backend'];
      } catch (err) {
        throw new CliError(`cannot tell which backend runs ${slug}: ${(err as Error).message}`);
      }
      const report = await allBackends()[backendName].stop(slug, ctx.home).catch((err: unknown) => {
        throw new CliError(`cannot stop ${slug}: ${err instanceof Error ? err.message : String(err)}`);
      });
      for (const note of report.notes) ctx.stderr(`bot-bottle: ${note}\n`);
      if (report.incomplete) throw new CliError(`${slug} may not be stopped completely: see above`);
      ctx.stdout(report.wasRunning ? `stopped ${slug}\n` : `${slug} is not running\n`);
    });
}
