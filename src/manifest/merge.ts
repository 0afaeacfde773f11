import type { BottleFrontmatter, GitUser } from './schema.js';

/** A bottle after `extends` (or several --bottle flags) are folded together. */
export type MergedBottle = Omit<BottleFrontmatter, 'extends'>;

/**
 * Fold `child` over `parent`:
 * - `env`: dict merge, child wins per name;
 * - `git-gate.user`: per field, a non-empty child field wins;
 * - `git-gate.repos`: merged by name, child wins per name; an explicit `{}` clears the parent's;
 * - `agent_provider`, `egress`: replaced whole when the child declares them,
 *   because half of a security policy from each side is nobody's policy.
 */
export function mergeBottles(parent: MergedBottle, child: MergedBottle): MergedBottle {
  const out: MergedBottle = {};
  const env = parent.env || child.env ? { ...parent.env, ...child.env } : undefined;
  if (env) out.env = env;
  const provider = child.agent_provider ?? parent.agent_provider;
  if (provider) out.agent_provider = provider;
  const egress = child.egress ?? parent.egress;
  if (egress) out.egress = egress;
  const gate = mergeGitGate(parent['git-gate'], child['git-gate']);
  if (gate) out['git-gate'] = gate;
  return out;
}

export function mergeGitUser(base: GitUser | undefined, over: GitUser | undefined): GitUser | undefined {
  if (!base && !over) return undefined;
  const name = over?.name || base?.name;
  const email = over?.email || base?.email;
  return { ...(name ? { name } : {}), ...(email ? { email } : {}) };
}

function mergeGitGate(
  parent: BottleFrontmatter['git-gate'],
  child: BottleFrontmatter['git-gate'],
): BottleFrontmatter['git-gate'] {
  if (!parent && !child) return undefined;
  const out: NonNullable<BottleFrontmatter['git-gate']> = {};
  const user = mergeGitUser(parent?.user, child?.user);
  if (user) out.user = user;
  const childRepos = child?.repos;
  const clears = childRepos !== undefined && Object.keys(childRepos).length === 0;
  const repos = clears ? {} : parent?.repos || childRepos ? { ...parent?.repos, ...childRepos } : undefined;
  if (repos) out.repos = repos;
  return out;
}

export function stripExtends(bottle: BottleFrontmatter): MergedBottle {
  const { extends: _ignored, ...rest } = bottle;
  return rest;
}
