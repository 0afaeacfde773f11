import type { Command } from '@commander-js/extra-typings';
import { readMetadata, slugTaken } from '../../state/metadata.js';
import { slugArg } from '../arg-checks.js';
import { CliError, type CliContext } from '../context.js';

/**
 * `bot-bottle commit [SLUG]`: snapshot a running docker bottle's agent
 * container (what the agent did to its home and the system), recorded in the
 * bottle's state so the next `resume` boots from it. The workspace and the
 * agent's persisted folders live on the host and are kept anyway.
 */
export function registerCommit(program: Command, ctx: CliContext): void {
  program
    .command('commit')
    .description("snapshot a running docker bottle's agent container; `resume` then boots from the snapshot")
    .argument('[slug]', 'the bottle (default: the only running docker bottle)')
    .action(async (value) => {
      const slug = value !== undefined ? slugArg(value) : await onlyRunning(ctx);
      if (!slugTaken(ctx.home, slug)) throw new CliError(`no bottle named ${slug} (see \`bot-bottle list active\`)`);
      let backend: string;
      try {
        backend = readMetadata(ctx.home, slug).backend;
      } catch (err) {
        throw new CliError(`cannot commit ${slug}: ${(err as Error).message}`);
      }
      if (backend !== 'docker') throw new CliError(`commit snapshots docker bottles only; ${slug} runs on ${backend}`);
      const snapshot = await docker(async () => {
        const [{ ownedResources }, { commitBottle }] = await Promise.all([import('../../backends/docker/operations.js'), import('../../backends/docker/snapshot.js')]);
        const owned = await ownedResources(slug, ctx.home);
        if (!(owned.resources?.containers.some((c) => c.role === 'agent' && c.running) ?? false)) {
          throw new CliError(`${slug} is not running: commit snapshots a running bottle's agent (start it with \`bot-bottle resume ${slug}\`)`);
        }
        return commitBottle(slug, ctx.home, owned.resources);
      });
      ctx.stdout(`committed ${slug} to ${snapshot.image} (${snapshot.id.slice(7, 19)}); \`bot-bottle resume ${slug}\` boots from it\n`);
    });
}

async function onlyRunning(ctx: CliContext): Promise<string> {
  // Loaded on use, not with the program: the docker backend's modules are a launch's dead weight.
  const running = (await docker(async () => (await import('../../backends/docker/operations.js')).listDocker(ctx.home))).filter((b) => b.running).map((b) => b.slug);
  if (running.length === 1 && running[0] !== undefined) return running[0];
  throw new CliError(running.length === 0 ? 'no docker bottle is running (commit snapshots a running one)' : `${running.length} docker bottles are running (${running.join(', ')}): name one, bot-bottle commit SLUG`);
}

/** Engine failures are the operator's to read: one line, no stack. */
async function docker<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`commit failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}
