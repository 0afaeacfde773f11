import type { Command } from '@commander-js/extra-typings';

// Placeholder: the egress work replaces this with the real `sidecars` command.
export function registerSidecars(program: Command): void {
  program
    .command('sidecars')
    .description('run the sidecar bundle from a config file (not implemented yet)')
    .requiredOption('--config <file>')
    .action(() => {
      throw new Error('sidecars is not implemented yet');
    });
}
