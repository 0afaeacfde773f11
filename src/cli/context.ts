import { botBottleHome } from '../state/paths.js';
import { UserError } from '../util/errors.js';

/**
 * Everything a command reads from the outside world, passed in so commands
 * can be run in-process by tests with their own home, cwd and streams.
 */
export interface CliContext {
  home: string;
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  isTTY: boolean;
}

export function processContext(): CliContext {
  return {
    home: botBottleHome(),
    cwd: process.cwd(),
    env: process.env,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    isTTY: Boolean(process.stdin.isTTY && process.stdout.isTTY),
  };
}

/** An error meant for the operator, raised by the CLI: printed as-is, no stack, non-zero exit. */
export class CliError extends UserError {
  override name = 'CliError';
}
