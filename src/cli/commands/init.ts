import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { homePaths } from '../../state/paths.js';
import { packageRoot } from '../../util/package-root.js';
import { nameArg } from '../arg-checks.js';
import { CliError, type CliContext } from '../context.js';

export function registerInit(program: Command, ctx: CliContext): void {
  program
    .command('init')
    .description('create an agent, or install the shipped example bottles and agents')
    .argument('[name]', 'agent to create in ~/.bot-bottle/agents/NAME.md')
    .option('--bottle <name>', 'bottle the new agent uses')
    .option('--examples', 'copy the example bottles and agents into $BOT_BOTTLE_HOME (existing files are kept)', false)
    .action((name, opts) => {
      if (name !== undefined) nameArg(name, 'NAME', 'agent');
      // Written into the new agent's YAML: a name, so it can neither escape the bottles folder nor the YAML.
      if (opts.bottle !== undefined) nameArg(opts.bottle, '--bottle', 'bottle');
      if (opts.examples) installExamples(ctx);
      if (name !== undefined) createAgent(ctx, name, opts.bottle);
      if (!opts.examples && name === undefined) throw new CliError('init needs an agent NAME or --examples');
    });
}

function installExamples(ctx: CliContext): void {
  const paths = homePaths(ctx.home);
  const source = join(packageRoot(), 'examples');
  for (const [kind, target] of [['bottles', paths.bottlesDir], ['agents', paths.agentsDir]] as const) {
    mkdirSync(target, { recursive: true, mode: 0o700 });
    for (const file of readdirSync(join(source, kind)).filter((f) => f.endsWith('.md'))) {
      const dest = join(target, file);
      if (existsSync(dest)) {
        ctx.stdout(`kept      ${dest} (already exists)\n`);
        continue;
      }
      copyFileSync(join(source, kind, file), dest);
      ctx.stdout(`installed ${dest}\n`);
    }
  }
}

function createAgent(ctx: CliContext, name: string, bottle: string | undefined): void {
  const dir = homePaths(ctx.home).agentsDir;
  const file = join(dir, `${name}.md`);
  if (existsSync(file)) throw new CliError(`${file} already exists; edit it with \`bot-bottle edit ${name}\``);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const frontmatter = bottle ? `bottle: ${bottle}\n` : '# bottle: dev   # or choose with --bottle at start\n';
  writeFileSync(file, `---\n${frontmatter}---\nYou are ${name}. Describe the agent's job here: this text is its system prompt.\n`, { flag: 'wx', mode: 0o600 });
  ctx.stdout(`created ${file}\n`);
}
