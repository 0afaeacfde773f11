import { Command, CommanderError } from '@commander-js/extra-typings';
import { LaunchError } from '../launch/errors.js';
import { BackendUnavailableError } from '../backends/types.js';
import { ManifestError } from '../manifest/errors.js';
import { SlugError } from '../plan/slug.js';
import { registerEdit } from './commands/edit.js';
import { registerInfo } from './commands/info.js';
import { registerInit } from './commands/init.js';
import { registerCleanup } from './commands/cleanup.js';
import { registerResume } from './commands/resume.js';
import { registerList } from './commands/list.js';
import { registerScan } from './commands/scan.js';
import { registerSidecars } from './commands/sidecars.js';
import { registerStart } from './commands/start.js';
import { registerStop } from './commands/stop.js';
import { registerSupervise } from './commands/supervise.js';
import { CliError, type CliContext } from './context.js';

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('bot-bottle')
    .description('run an AI coding agent in a bottle it cannot leave')
    .version('0.1.0')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeOut: ctx.stdout, writeErr: ctx.stderr });
  registerStart(program, ctx);
  registerInfo(program, ctx);
  registerList(program, ctx);
  registerInit(program, ctx);
  registerEdit(program, ctx);
  registerResume(program, ctx);
  registerStop(program, ctx);
  registerCleanup(program, ctx);
  registerScan(program);
  registerSidecars(program);
  registerSupervise(program, ctx);
  for (const command of program.commands) command.exitOverride().configureOutput({ writeOut: ctx.stdout, writeErr: ctx.stderr });
  return program;
}

/** Parse and run; returns the exit code. Known errors print one clear message and no stack. */
export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  const previous = process.exitCode;
  process.exitCode = undefined;
  try {
    await buildProgram(ctx).parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode; // commander already printed its one line
    if (err instanceof CliError) {
      ctx.stderr(`bot-bottle: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof LaunchError) {
      ctx.stderr(`bot-bottle: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof ManifestError || err instanceof BackendUnavailableError || err instanceof SlugError) {
      ctx.stderr(`bot-bottle: ${err.message}\n`);
      return 1;
    }
    ctx.stderr(`bot-bottle: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  } finally {
    if (previous !== undefined && process.exitCode === undefined) process.exitCode = previous;
  }
}
