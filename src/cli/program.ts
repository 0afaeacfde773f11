import { Command, CommanderError } from '@commander-js/extra-typings';
import { BackendUnavailableError } from '../backends/types.js';
import { ManifestError } from '../manifest/errors.js';
import { renderUserError, UserError } from '../util/errors.js';
import { SlugError } from '../plan/slug.js';
import { bottlesWithClaudeSession } from '../plan/claude.js';
import { registerEdit } from './commands/edit.js';
import { registerInfo } from './commands/info.js';
import { registerInit } from './commands/init.js';
import { registerCleanup } from './commands/cleanup.js';
import { registerCommit } from './commands/commit.js';
import { registerDockerStandby } from './commands/docker-standby.js';
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
  registerCommit(program, ctx);
  registerScan(program);
  registerSidecars(program);
  registerSupervise(program, ctx);
  registerDockerStandby(program);
  for (const command of program.commands) command.exitOverride().configureOutput({ writeOut: ctx.stdout, writeErr: ctx.stderr });
  return program;
}

/**
 * `bot-bottle --resume <session>` is what Claude Code inside a bottle prints
 * at exit (its CLAUDE_CODE_RESUME_HINT_COMMAND): `resume` of the bottle that
 * holds that conversation.
 */
function claudeResumeHint(argv: readonly string[], ctx: CliContext): string[] {
  if (argv[0] !== '--resume' || argv[1] === undefined) return [...argv];
  const slugs = bottlesWithClaudeSession(ctx.home, argv[1]);
  if (slugs.length !== 1) {
    throw new CliError(slugs.length === 0 ? `no bottle holds the Claude conversation ${JSON.stringify(argv[1])}` : `several bottles hold the Claude conversation ${argv[1]}: ${slugs.join(', ')}; use bot-bottle resume SLUG --session ${argv[1]}`);
  }
  return ['resume', slugs[0] ?? '', '--session', argv[1], ...argv.slice(2)];
}

/** Parse and run; returns the exit code. Known errors print one clear message and no stack. */
export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  const previous = process.exitCode;
  process.exitCode = undefined;
  try {
    await buildProgram(ctx).parseAsync(claudeResumeHint(argv, ctx), { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode; // commander already printed its one line
    if (err instanceof UserError) {
      ctx.stderr(renderUserError(err));
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
