import type { Command } from '@commander-js/extra-typings';
import { isAbsolute } from 'node:path';

/** `__docker-standby --home H`: hidden; what a docker launch's end runs detached (backends/docker/standby-helper.ts). */
export function registerDockerStandby(program: Command): void {
  program
    .command('__docker-standby', { hidden: true })
    .requiredOption('--home <dir>', "the home whose launches the standby serves")
    .action(async (opts) => {
      if (!isAbsolute(opts.home)) throw new Error('--home must be an absolute path');
      const { runStandbyHelper } = await import('../../backends/docker/standby-helper.js');
      const made = await runStandbyHelper(opts.home, process.env);
      process.stdout.write(made === undefined ? 'a docker standby waits already\n' : `docker standby ${made} started\n`);
    });
}
