import type { Command } from '@commander-js/extra-typings';
import { ManifestCatalog } from '../../manifest/catalog.js';
import { classifyEnv } from '../../manifest/env.js';
import { mergeGitUser } from '../../manifest/merge.js';
import { nameArg } from '../arg-checks.js';
import { readContainmentRecord, describeRecord, type ContainmentRecord } from '../../containment/record.js';
import { knownSlugs, readMetadata } from '../../state/metadata.js';
import type { CliContext } from '../context.js';

export function registerInfo(program: Command, ctx: CliContext): void {
  program
    .command('info')
    .description("show an agent's bottle, env names, skills, git identity and prompt")
    .argument('<agent>')
    .action((name) => {
      nameArg(name, 'agent', 'agent');
      const catalog = new ManifestCatalog({ home: ctx.home, cwd: ctx.cwd });
      const agent = catalog.loadAgent(name);
      const out: string[] = [`agent ${agent.name} (${agent.origin}: ${agent.file})`];
      const bottleName = agent.frontmatter.bottle;
      const resolved = bottleName ? catalog.resolveBottle(bottleName) : undefined;
      out.push(`  bottle: ${resolved ? resolved.chain.join(' -> ') : '(none: choose with --bottle at start)'}`);
      const env = Object.entries(resolved?.bottle.env ?? {}).map(([k, v]) => classifyEnv(k, v));
      out.push(`  env: ${env.length > 0 ? env.map((e) => `${e.name}${e.kind === 'literal' ? '' : ' (secret)'}`).join(', ') : '(none)'}`);
      out.push(`  skills: ${(agent.frontmatter.skills ?? []).join(', ') || '(none)'}`);
      const bottleUser = resolved?.bottle['git-gate']?.user;
      const agentUser = agent.frontmatter['git-gate']?.user;
      const user = mergeGitUser(bottleUser, agentUser) ?? {};
      const from = (field: 'name' | 'email'): string => (agentUser?.[field] ? 'agent' : 'bottle');
      out.push(`  git user.name:  ${user.name ? `${user.name} (${from('name')})` : '(unset)'}`);
      out.push(`  git user.email: ${user.email ? `${user.email} (${from('email')})` : '(unset)'}`);
      out.push('  prompt:');
      out.push(...(agent.body.length > 0 ? agent.body.split('\n').map((l) => `    ${l}`) : ['    (empty)']));
      out.push(`  containment check: ${lastContainmentCheck(ctx.home, agent.name)}`);
      for (const warning of catalog.warnings) out.push(`  warning: ${warning}`);
      ctx.stdout(`${out.join('\n')}\n`);
    });
}

/** The newest recorded self-test among this agent's bottles (state is untrusted: damaged files are named, not trusted). */
function lastContainmentCheck(home: string, agent: string): string {
  let last: { slug: string; record: ContainmentRecord } | undefined;
  let damaged: string | undefined;
  for (const slug of knownSlugs(home)) {
    let owner: string;
    try {
      owner = readMetadata(home, slug).agent;
    } catch {
      continue;
    }
    if (owner !== agent) continue;
    const record = readContainmentRecord(slug, home);
    if (record && 'damaged' in record) damaged = record.damaged;
    else if (record && (!last || record.at > last.record.at)) last = { slug, record };
  }
  const note = damaged ? ` (unreadable record ${damaged})` : '';
  return last ? `${last.slug} ${describeRecord(last.record)}${note}` : `(no launch recorded)${note}`;
}
