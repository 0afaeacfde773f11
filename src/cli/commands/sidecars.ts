import type { Command } from '@commander-js/extra-typings';

export function registerSidecars(program: Command): void {
  program
    .command('sidecars')
    .description("run the bottle's sidecar daemons (egress, ...) in one process from the config the launch step writes")
    .requiredOption('--config <file>', 'sidecar config JSON')
    .action(async (opts) => {
      try {
        // Loaded on use: other commands should not pay for the proxy's modules.
        const { runSidecars } = await import('../../sidecars/run.js');
        await runSidecars(opts.config);
      } catch (err) {
        process.stderr.write(`bot-bottle sidecars: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
