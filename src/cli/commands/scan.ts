import type { Command } from '@commander-js/extra-typings';

// Placeholder: the DLP work replaces this with the real `scan` command.
export function registerScan(program: Command): void {
  program
    .command('scan')
    .description('scan a file or stdin for secrets (not implemented yet)')
    .argument('[file]')
    .action(() => {
      throw new Error('scan is not implemented yet');
    });
}
