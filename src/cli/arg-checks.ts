import { controlProblem } from '../manifest/control-chars.js';
import { nameProblem } from '../manifest/names.js';
import { isSlug } from '../plan/slug.js';
import { CliError } from './context.js';

/**
 * Command-line values are checked where they enter, with the flag named,
 * before anything joins them to a folder or passes them to a sandbox.
 */
const FIX = {
  agent: 'an agent is named by its file in ~/.bot-bottle/agents or ./.bot-bottle/agents, without ".md" (see `bot-bottle list`)',
  bottle: 'a bottle is named by its file in ~/.bot-bottle/bottles, without ".md" (e.g. --bottle dev)',
} as const;

export function nameArg(value: string, flag: string, what: keyof typeof FIX): string {
  const problem = nameProblem(value, what);
  if (problem) throw new CliError(`${flag}: ${problem}; ${FIX[what]}`);
  return value;
}

/** Multi-line text such as a --prompt: tab and newline allowed, no other control character. */
export function textArg(value: string, flag: string): string {
  const problem = controlProblem(value, 'text');
  if (problem) throw new CliError(`${flag} ${problem}`);
  return value;
}

export function slugArg(value: string): string {
  if (!isSlug(value)) {
    const shown = controlProblem(value, 'line') ? '(a value with control characters)' : JSON.stringify(value);
    throw new CliError(`${shown} is not a bottle slug (lower-case letters, digits, '.', '_' and '-'; see \`bot-bottle list active\`)`);
  }
  return value;
}
