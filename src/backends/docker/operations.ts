import { cliGone, launchingCli, signalLaunchingCli } from '../../state/launching-cli.js';
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { assertSlug } from '../../plan/slug.js';
import { knownSlugs, readMetadata } from '../../state/metadata.js';
import { bottleStatePaths, homePaths } from '../../state/paths.js';
import type { BottleStatus, StopReport } from '../types.js';
import { docker, DockerError, dockerChild } from './cli.js';
import { exitCode } from './guest-exec.js';
import { AGENT_EXEC_PREFIX, AGENT_USER } from './guest.js';
import { listBottleResources, removeBottleResources, type BottleResources } from './resources.js';

/**
 * exec, attach, list and stop for docker bottles. A bottle is its state
 * folder under $BOT_BOTTLE_HOME (metadata, the launching CLI's pids record)
 * joined with the engine's resources that carry its slug label. The engine is
 * shared by every home, so resources count as this home's bottle's only when
 * its containers mount this bottle's state folder (the workspace, the bundle's
 * state), and the launching CLI's liveness is read from the pids record with
 * identity checks, never from a bare pid.
 */


export interface OwnedResources {
  /** The resources of this home's bottle, if any exist. */
  resources?: BottleResources;
  /** Containers with the slug that mount another state folder (a bottle of another home): never touched. */
  foreign: boolean;
}

/** This home's bottle's resources; a slug's containers that mount nothing of its state folder are another home's. */
export async function ownedResources(slug: string, home: string, all?: Map<string, BottleResources>): Promise<OwnedResources> {
  const resources = (all ?? (await listBottleResources())).get(assertSlug(slug));
  if (resources === undefined) return { foreign: false };
  if (resources.containers.length === 0) return { resources, foreign: false };
  const dirs = stateDirForms(bottleStatePaths(slug, home).dir);
  // A claimed standby's bundle binds this home's whole state root (standby.ts).
  const roots = stateDirForms(homePaths(home).stateRoot);
  const out = await docker(['container', 'inspect', '--format', '{{range .Mounts}}{{.Source}}{{"\\n"}}{{end}}', ...resources.containers.map((c) => c.id)]).catch((error: unknown) => {
    // A container removed between listing and inspecting: look again once.
    if (error instanceof DockerError && /no such/i.test(error.stderr)) return undefined;
    throw error;
  });
  if (out === undefined) return all === undefined ? ownedResources(slug, home, await listBottleResources()) : { foreign: false };
  const sources = out.split('\n').map((s) => s.trim()).filter((s) => s.length > 0);
  const mine = sources.some((source) => dirs.some((dir) => source === dir || source.startsWith(`${dir}/`)) || roots.includes(source));
  return mine ? { resources, foreign: false } : { foreign: true };
}

/** The state folder as given and as the engine may report it (links resolved). */
function stateDirForms(dir: string): string[] {
  const forms = [resolve(dir)];
  try {
    forms.push(realpathSync(dir));
  } catch {
    // No state folder: the resolved path is all there is.
  }
  return [...new Set(forms)];
}

export async function listDocker(home: string): Promise<BottleStatus[]> {
  const out: BottleStatus[] = [];
  const slugs = knownSlugs(home).filter((slug) => {
    try {
      return readMetadata(home, slug).backend === 'docker';
    } catch {
      return false; // damaged state: `list active` reports it on its own
    }
  });
  if (slugs.length === 0) return out;
  const all = await listBottleResources();
  for (const slug of slugs) {
    const cli = launchingCli(slug, home).state;
    const owned = await ownedResources(slug, home, all);
    const containers = owned.resources?.containers ?? [];
    const agentRunning = containers.some((c) => c.role === 'agent' && c.running);
    const anyRunning = containers.some((c) => c.running);
    let detail: string | undefined;
    if (typeof cli === 'object') detail = cli.problem;
    else if (cli === 'alive') detail = agentRunning ? 'agent container running' : 'starting or stopping';
    else if (owned.resources !== undefined) detail = 'its CLI is gone: `bot-bottle cleanup` removes what it left';
    if (owned.foreign) detail = `${detail === undefined ? '' : `${detail}; `}containers named ${slug} belong to another BOT_BOTTLE_HOME`;
    out.push({ slug, backend: 'docker', running: cli === 'alive' || anyRunning, ...(detail !== undefined ? { detail } : {}) });
  }
  return out;
}

/** How long the owning CLI gets to tear down before `stop` removes the bottle's resources itself. */
const CLI_GRACE_MS = 15_000;
const DIRECT_GRACE_MS = 5_000;

/**
 * Stop a docker bottle from another process. The CLI that owns it is asked
 * first (SIGTERM, identity-checked): it tears everything down and exits
 * non-zero. Whatever is left (the CLI crashed, hangs, or was never
 * recorded) is removed by label: containers, networks, the firewall rule.
 */
export async function stopDocker(slug: string, home: string): Promise<StopReport> {
  assertSlug(slug);
  const asked = signalLaunchingCli(slug, home);
  const { notes, pids } = asked;
  let incomplete = asked.incomplete;
  const cliSignalled = asked.signalled;
  if (cliSignalled) await cliGone(pids, CLI_GRACE_MS);

  const owned = await ownedResources(slug, home);
  if (owned.foreign) notes.push(`the containers named ${slug} mount another home's state: not touched`);
  const left = owned.resources;
  const wasRunning = cliSignalled || (left?.containers.some((c) => c.running) ?? false);
  if (left !== undefined) {
    const failures = await removeBottleResources(left);
    for (const failure of failures) notes.push(`${slug}: ${failure}`);
    if (failures.length > 0) incomplete = true;
  }
  if (cliSignalled && !(await cliGone(pids, DIRECT_GRACE_MS))) {
    notes.push(`the launching CLI of ${slug} (pid ${pids?.cli?.pid}) is still running`);
    incomplete = true;
  }
  return { wasRunning, notes, incomplete };
}


/** The running agent container of a bottle, by label. */
async function runningAgent(slug: string): Promise<string> {
  const agent = (await listBottleResources()).get(assertSlug(slug))?.containers.find((c) => c.role === 'agent');
  if (agent === undefined || !agent.running) throw new DockerError(`bottle ${slug} has no running agent container (see \`bot-bottle list active\`)`);
  return agent.id;
}

/**
 * Run a command in the bottle as the agent, on this terminal (a tty when
 * stdin is one). It gets the image's environment, not the agent's: the
 * agent's secrets live only in the process the launch started.
 */
export async function execDocker(slug: string, argv: readonly string[]): Promise<number> {
  if (argv.length === 0) throw new DockerError('nothing to run in the bottle');
  if (argv.some((a) => a.includes('\0'))) throw new DockerError('an argument holds a NUL byte');
  const id = await runningAgent(slug);
  const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
  return exitCode(dockerChild(['exec', ...(tty ? ['--tty'] : []), '--interactive', '--user', AGENT_USER, id, ...AGENT_EXEC_PREFIX, ...argv], { inheritStdio: true }));
}

/**
 * The agent of a docker bottle stays attached to the terminal that started
 * it; attaching from another terminal opens a login shell beside it, in the
 * same container, as the agent.
 */
export async function attachDocker(slug: string): Promise<number> {
  if (process.stdin.isTTY !== true) throw new DockerError('attach needs a terminal');
  return execDocker(slug, ['bash', '-l']);
}
