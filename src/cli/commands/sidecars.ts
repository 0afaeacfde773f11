import type { Command } from '@commander-js/extra-typings';
import { runSidecars } from '../../sidecars/run.js';

export function registerSidecars(program: Command): void {
  program
    .command('sidecars')
    .description("run the bottle's sidecar daemons (egress, ...) in one process from the config the launch step writes")
    .requiredOption('--config <file>', 'sidecar config JSON')
    .action(async (opts) => {
      try {
        await runSidecars(opts.config);
      } catch (err) {
        process.stderr.write(`bot-bottle sidecars: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
