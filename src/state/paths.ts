import { homedir } from 'node:os';
import { join } from 'node:path';
import { assertSlug } from './names.js';

/**
 * Every on-disk location bot-bottle uses, in one place so the CLI, the
 * sidecars and the supervise console agree on the layout.
 */
export function botBottleHome(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.BOT_BOTTLE_HOME;
  return configured && configured.length > 0 ? configured : join(homedir(), '.bot-bottle');
}

export interface HomePaths {
  home: string;
  bottlesDir: string;
  agentsDir: string;
  stateRoot: string;
  queueRoot: string;
}

export function homePaths(home: string = botBottleHome()): HomePaths {
  return {
    home,
    bottlesDir: join(home, 'bottles'),
    agentsDir: join(home, 'agents'),
    stateRoot: join(home, 'state'),
    queueRoot: join(home, 'queue'),
  };
}

export interface BottleStatePaths {
  dir: string;
  metadata: string;
  /** The egress route table the sidecar serves (manifest + provider + approved routes). */
  egressRoutes: string;
  /** Routes the operator approved through supervise; kept so `resume` keeps them. */
  approvedRoutes: string;
  /** Image/capability changes approved through supervise, applied at the next `resume`. */
  approvedCapabilities: string;
  /** The workspace when `--cwd` is not used. */
  workspace: string;
  /** The agent's own home folders kept across runs (e.g. `.claude`); written by the agent, so hostile. */
  agentHome: string;
  /** Runtime files of a running bottle (sockets, sidecar config, public CA); removed at teardown. */
  runDir: string;
}

/** Throws a SlugError for anything that is not a slug (e.g. `../x` given to `resume`). */
export function bottleStatePaths(slug: string, home: string = botBottleHome()): BottleStatePaths {
  const dir = join(homePaths(home).stateRoot, assertSlug(slug));
  return {
    dir,
    metadata: join(dir, 'metadata.json'),
    egressRoutes: join(dir, 'egress-routes.json'),
    approvedRoutes: join(dir, 'approved-routes.json'),
    approvedCapabilities: join(dir, 'approved-capabilities.json'),
    workspace: join(dir, 'workspace'),
    agentHome: join(dir, 'agent-home'),
    runDir: join(dir, 'run'),
  };
}

export function queueDir(slug: string, home: string = botBottleHome()): string {
  return join(homePaths(home).queueRoot, assertSlug(slug));
}
