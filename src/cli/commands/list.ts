import type { Command } from '@commander-js/extra-typings';
import { allBackends } from '../../backends/select.js';
import { ManifestCatalog } from '../../manifest/catalog.js';
import { ManifestError } from '../../manifest/errors.js';
import { knownSlugs, readMetadata } from '../../state/metadata.js';
import { CliError, type CliContext } from '../context.js';

export function registerList(program: Command, ctx: CliContext): void {
  program
    .command('list')
    .description('list agents, or with `active` the bottles that have state')
    .argument('[what]', '`active` for bottles')
    .action(async (what) => {
      if (what === undefined) return listAgents(ctx);
      if (what === 'active') return listActive(ctx);
      throw new CliError(`list takes nothing or "active", not "${what}"`);
    });
}

function listAgents(ctx: CliContext): void {
  const catalog = new ManifestCatalog({ home: ctx.home, cwd: ctx.cwd });
  const agents = catalog.agents();
  if (agents.length === 0) ctx.stdout('no agents (run `bot-bottle init --examples` or `bot-bottle init NAME`)\n');
  for (const entry of agents) {
    // A broken file is listed with its problem; it never hides the others.
    try {
      const agent = catalog.loadAgent(entry.name);
      ctx.stdout(`${entry.name}\t${entry.origin}\tbottle: ${agent.frontmatter.bottle ?? '(chosen at start)'}\n`);
    } catch (err) {
      const first = err instanceof ManifestError ? err.message.split('\n')[0] : String(err);
      ctx.stdout(`${entry.name}\t${entry.origin}\tBROKEN: ${first ?? ''}\n`);
    }
  }
  for (const warning of catalog.warnings) ctx.stderr(`warning: ${warning}\n`);
}

async function listActive(ctx: CliContext): Promise<void> {
  const running = new Map<string, boolean>();
  for (const backend of Object.values(allBackends())) {
    for (const status of await backend.list(ctx.home).catch(() => [])) running.set(status.slug, status.running);
  }
  const slugs = knownSlugs(ctx.home);
  if (slugs.length === 0) ctx.stdout('no bottles\n');
  for (const slug of slugs) {
    try {
      const meta = readMetadata(ctx.home, slug);
      ctx.stdout(`${slug}\t${meta.backend}\t${running.get(slug) ? 'running' : 'stopped'}\tagent ${meta.agent}\tlabel ${meta.label} (${meta.color})\n`);
    } catch (err) {
      ctx.stdout(`${slug}\t?\tdamaged state: ${(err as Error).message}\n`);
    }
  }
}
