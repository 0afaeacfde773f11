/*
 * The names bottle state is filed under, checked wherever state is read:
 * slugs (which become folder names) and the vocabularies metadata records.
 * Plans use them too (src/plan re-exports them); state never imports plans.
 */

export type BackendName = 'bwrap' | 'docker' | 'smolmachines';
export const BACKEND_NAMES: readonly BackendName[] = ['bwrap', 'docker', 'smolmachines'];
/** Auto-detection order: strongest isolation first. */
export const BACKEND_PREFERENCE: readonly BackendName[] = ['smolmachines', 'docker', 'bwrap'];

export const ANSI_COLORS = [
  'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white', 'gray',
  'bright-red', 'bright-green', 'bright-yellow', 'bright-blue', 'bright-magenta', 'bright-cyan', 'bright-white', 'black',
] as const;
export type AnsiColor = (typeof ANSI_COLORS)[number];

export const SLUG = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

export class SlugError extends Error {
  override name = 'SlugError';
}

/**
 * A slug names a state folder, so anything that turns one into a path checks
 * it first: a label (64 bytes) with a collision suffix, never a separator,
 * never `.`/`..` (it starts with a letter or digit).
 */
export function isSlug(value: string): boolean {
  // A label (64 bytes) with allocateSlug's `-N` collision suffix; never a separator, never `.`/`..`.
  return SLUG.test(value) || (/-\d{1,3}$/.test(value) && SLUG.test(value.replace(/-\d{1,3}$/, '')));
}

export function assertSlug(value: string): string {
  if (!isSlug(value)) throw new SlugError(`"${value.replace(/[^\x20-\x7e]/g, '?')}" is not a bottle name (lower-case letters, digits, '.', '_' and '-', starting with a letter or digit)`);
  return value;
}

