import type { Command } from '@commander-js/extra-typings';
import { CliError } from '../context.js';

/** Commands whose machinery arrives with the backends; they say so instead of doing half a job. */
export function registerLater(program: Command): void {
  program
    .command('resume')
    .description('relaunch a stopped bottle from its saved state')
    .argument('<slug>')
    .action(() => {
      throw new CliError('resume arrives with backend launch support; nothing was changed');
    });
  program
    .command('cleanup')
    .description('remove leftover bottles, sidecars and state across backends')
    .action(() => {
      throw new CliError('cleanup arrives with backend launch support; nothing was changed');
    });
}
