import { firstControl } from './control-chars.js';

/**
 * Bottles, agents, `extends`, skills and git-gate repos are chosen by NAME,
 * and every name is joined onto a folder: a separator or a `..` in one would
 * let a repository pick a file outside that folder (e.g. its own bottle).
 * One rule for all of them, checked where a name enters (schema, CLI flag)
 * and again where it is joined to a folder (catalog, skills).
 */
export const NAME_PATTERN = /^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const NAME_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 characters, no '..'";

export function isName(value: string): boolean {
  return NAME_PATTERN.test(value);
}

/** Why `value` is not a name, or undefined when it is one. Never echoes control characters. */
export function nameProblem(value: string, what: string): string | undefined {
  if (isName(value)) return undefined;
  const shown = firstControl(value, 'line') >= 0 ? '(a value with control characters)' : JSON.stringify(value);
  const pathLike = value.includes('/') || value.includes('\\') || value.includes('..') || value.startsWith('.');
  return `${what} ${shown} is not a name${pathLike ? ': paths are not allowed' : ''} (${NAME_RULE})`;
}
