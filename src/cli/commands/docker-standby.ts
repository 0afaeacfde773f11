import type { Command } from '@commander-js/extra-typings';
import { isAbsolute } from 'node:path';

/**
 * `__docker-standby --home H [--expire ID]`: hidden; what a docker launch's end runs detached, and what a
 * standby's idle time ends with (backends/docker/standby-helper.ts).
 */
export function registerDockerStandby(program: Command): void {
  program
    .command('__docker-standby', { hidden: true })
    .requiredOption('--home <dir>', "the home whose launches the standby serves")
    .option('--expire <id>', 'remove this standby if no launch took it (its idle time is over)')
    .action(async (opts) => {
      if (!isAbsolute(opts.home)) throw new Error('--home must be an absolute path');
      if (opts.expire !== undefined) {
        const { expireStandby } = await import('../../backends/docker/standby.js');
        const removed = await expireStandby(opts.home, opts.expire);
        process.stdout.write(removed ? `docker standby ${opts.expire} expired and removed\n` : `docker standby ${opts.expire} was taken or is gone\n`);
        return;
      }
      const { runStandbyHelper } = await import('../../backends/docker/standby-helper.js');
      const made = await runStandbyHelper(opts.home, process.env);
      process.stdout.write(made === undefined ? 'a docker standby waits already\n' : `docker standby ${made} started\n`);
    });
}
