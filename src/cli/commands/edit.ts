import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { ManifestCatalog } from '../../manifest/catalog.js';
import { homePaths } from '../../state/paths.js';
import { nameArg } from '../arg-checks.js';
import { CliError, type CliContext } from '../context.js';

export function registerEdit(program: Command, ctx: CliContext): void {
  program
    .command('edit')
    .description('open an agent (or with --bottle, a bottle) in $EDITOR')
    .argument('<name>')
    .option('--bottle', 'NAME is a bottle', false)
    .action((name, opts) => {
      nameArg(name, 'NAME', opts.bottle ? 'bottle' : 'agent');
      const file = opts.bottle ? join(homePaths(ctx.home).bottlesDir, `${name}.md`) : new ManifestCatalog({ home: ctx.home, cwd: ctx.cwd }).agents().find((a) => a.name === name)?.file;
      if (!file || !existsSync(file)) throw new CliError(`no ${opts.bottle ? 'bottle' : 'agent'} named "${name}"`);
      const editor = ctx.env.VISUAL ?? ctx.env.EDITOR ?? 'vi';
      const result = spawnSync(editor, [file], { stdio: 'inherit', shell: false });
      if (result.error) throw new CliError(`cannot run editor "${editor}": ${result.error.message}`);
      process.exitCode = result.status ?? 1;
    });
}
