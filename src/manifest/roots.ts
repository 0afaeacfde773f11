import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { nameProblem } from './names.js';

/**
 * Every manifest and skill file is read from an allowed root, checked after
 * symlinks are resolved: a name that passes the name rule can still be a
 * symlink planted to point elsewhere. Roots (README, "Manifests"):
 * bottles: $BOT_BOTTLE_HOME/bottles; agents: $BOT_BOTTLE_HOME/agents and the
 * repository's .bot-bottle/agents (itself inside the repository); skills:
 * ~/.claude/skills. A root may itself be a symlink the operator made (e.g.
 * to a dotfiles checkout): its real path is the root.
 */
export type Containment =
  | { ok: true; real: string }
  | { ok: false; reason: 'missing' }
  | { ok: false; reason: 'outside'; real: string; realRoot: string };

export function containedPath(path: string, root: string): Containment {
  let realRoot: string;
  let real: string;
  try {
    realRoot = realpathSync(root);
    real = realpathSync(path);
  } catch {
    return { ok: false, reason: 'missing' };
  }
  return isInside(real, realRoot) ? { ok: true, real } : { ok: false, reason: 'outside', real, realRoot };
}

/** Strictly below `root` (not the root itself). Both must already be real, absolute paths. */
export function isInside(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && rel !== '..' && !rel.startsWith('../') && !isAbsolute(rel);
}

export function skillsRoot(userHome: string): string {
  return join(userHome, '.claude', 'skills');
}

/** A skill's folder, real path inside ~/.claude/skills, or why it cannot be used. */
export function resolveSkill(userHome: string, skill: string): { path: string } | { problem: string } {
  const root = skillsRoot(userHome);
  const bad = nameProblem(skill, 'skill');
  if (bad) return { problem: bad };
  const folder = join(root, skill);
  const found = containedPath(folder, root);
  if (!found.ok && found.reason === 'missing') return { problem: `skill "${skill}" is not in ${root}` };
  if (!found.ok) {
    return { problem: `skill "${skill}" resolves to ${found.real}, outside ${root}: copy the skill into ${root} instead of linking it` };
  }
  if (!statSync(found.real).isDirectory()) return { problem: `skill "${skill}" (${folder}) is not a folder` };
  return { path: found.real };
}
