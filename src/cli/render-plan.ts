import type { BottlePlan } from '../plan/types.js';
import { renderBoundary } from './render-boundary.js';
import { describeAuth } from '../routes/model.js';

/**
 * The human view of a plan: what the preflight shows before anything runs.
 * Names of secrets only, never values.
 */
export function renderPlan(plan: BottlePlan): string {
  const lines: string[] = [];
  lines.push(`bottle ${plan.slug} (label ${plan.label}, ${plan.color})`);
  lines.push(`  backend:   ${plan.backend} — ${plan.backendReason}`);
  lines.push(`  agent:     ${plan.agent.name} (${plan.agent.origin}: ${plan.agent.file})`);
  lines.push(`  bottles:   ${plan.bottles.chain.join(' -> ')}`);
  lines.push(`  provider:  ${plan.provider.template}, runs: ${plan.provider.command.join(' ')}`);
  if (plan.provider.snapshot) lines.push(`  image:     ${plan.provider.snapshot.image} (committed ${plan.provider.snapshot.committedAt}; the agent boots from it, nothing is rebuilt)`);
  const skip = plan.workspace.skip === 'gitignored' ? ' without what git ignores' : '';
  lines.push(`  workspace: ${plan.workspace.mode === 'copy' ? `copy of ${plan.workspace.source ?? '?'}${skip}` : 'empty'} at ${plan.workspace.guestPath}`);
  if (plan.removeAtExit) lines.push(`  state:     DELETED when the bottle stops (--rm), workspace included: ${plan.stateDir}`);
  lines.push('  egress routes:');
  if (plan.sidecars.egress.routes.length === 0) lines.push('    (none: every request is refused)');
  for (const route of plan.sidecars.egress.routes) {
    const auth = route.auth ? `, injects ${describeAuth(route.auth)} from ${route.auth.tokenRef}` : '';
    const matches = route.matches.length > 0 ? `, ${route.matches.length} match rule(s)` : ', any path';
    lines.push(`    ${route.host}:${route.port}${matches}${auth}; DLP on match: ${route.dlp.onMatch}${route.gitFetch ? '; git fetch allowed' : ''}`);
  }
  const ahead = plan.sidecars.egress.preconnect;
  if (ahead.length > 0) lines.push(`    connects ahead (when the agent starts) to ${ahead.map((t) => `${t.host}:${t.port}`).join(', ')}; BOT_BOTTLE_PRECONNECT=0 turns it off`);
  lines.push('  git-gate repos:');
  if (plan.sidecars.gitGate.repos.length === 0) lines.push('    (none)');
  for (const repo of plan.sidecars.gitGate.repos) {
    const branches = repo.branches.length > 0 ? ` (push only ${repo.branches.join(', ')})` : '';
    lines.push(`    ${repo.name}: ${repo.url}${branches}, key ${repo.identityFile}`);
  }
  const user = plan.git.user;
  lines.push(`  git identity: ${user.name ? `${user.name.value} (${user.name.from})` : '(unset)'} <${user.email ? `${user.email.value} (${user.email.from})` : 'unset'}>`);
  lines.push('  env:');
  if (plan.env.length === 0) lines.push('    (none)');
  for (const entry of plan.env) {
    const how =
      entry.kind === 'literal' ? 'literal' : entry.kind === 'prompt' ? 'secret, prompted at launch' : entry.kind === 'host' ? `secret, from host $${entry.hostVar}` : 'placeholder (egress injects the real credential)';
    lines.push(`    ${entry.name}: ${how}`);
  }
  if (plan.agent.skills.length > 0) lines.push(`  skills: ${plan.agent.skills.join(', ')}`);
  lines.push(
    plan.containmentCheck.run
      ? '  containment: self-test from inside before the agent starts (host unreachable, no DNS, only the bundle, egress refuses, CA trusted, no secrets readable)'
      : `  containment: NOT CHECKED (${plan.containmentCheck.reason}): the bottle's isolation is not verified`,
  );
  if (plan.boundary !== undefined) lines.push(...renderBoundary(plan.boundary));
  for (const warning of plan.warnings) lines.push(`  warning: ${warning.message}`);
  return `${lines.join('\n')}\n`;
}
