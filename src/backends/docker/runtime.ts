import { docker, DockerError } from './cli.js';

/**
 * Which OCI runtime a bottle's agent runs under. gVisor (`runsc`) puts a
 * user-space kernel between the agent and the host's, so when it is
 * registered with the engine every bottle's agent uses it, and the preflight
 * says which one was chosen and why. BOT_BOTTLE_DOCKER_RUNTIME=runc|runsc
 * chooses explicitly (the test suite runs under both); asking for runsc where
 * it is not registered is an error, never a quiet fallback.
 *
 * The sidecar bundle is our code, not the agent's: under runc by default, as
 * on smolmachines, and as the bwrap backend runs it as a plain host process
 * (here it still has its own namespaces, no capabilities and no new
 * privileges). Under gVisor its node start costs ~0.8 s per launch.
 * BOT_BOTTLE_DOCKER_BUNDLE_RUNTIME=runsc puts it under gVisor too, for an
 * operator who wants the host kernel behind two user-space kernels even if
 * an agent broke into the bundle (docs/architecture.md, "Runtimes").
 */
export type DockerRuntime = 'runsc' | 'runc';

export interface RuntimeChoice {
  /** The agent's container's. */
  runtime: DockerRuntime;
  /** The sidecar bundle's container's. */
  bundle: DockerRuntime;
  /** One line for the preflight. */
  reason: string;
}

export const RUNTIME_ENV = 'BOT_BOTTLE_DOCKER_RUNTIME';
export const BUNDLE_RUNTIME_ENV = 'BOT_BOTTLE_DOCKER_BUNDLE_RUNTIME';

/** Registered runtimes and their extra arguments, from `docker info --format '{{json .Runtimes}}'` (an object keyed by name). */
export type RegisteredRuntimes = Readonly<Record<string, readonly string[]>>;

export function parseRuntimes(json: string): RegisteredRuntimes {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new DockerError(`docker info did not list runtimes as JSON: ${json.slice(0, 200)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new DockerError(`docker info listed runtimes as ${typeof parsed}, not an object`);
  const runtimes: Record<string, string[]> = {};
  for (const [name, entry] of Object.entries(parsed as Record<string, unknown>)) {
    const args = (entry as { runtimeArgs?: unknown } | null)?.runtimeArgs;
    runtimes[name] = Array.isArray(args) ? args.filter((a): a is string => typeof a === 'string') : [];
  }
  return runtimes;
}

export async function engineRuntimes(): Promise<RegisteredRuntimes> {
  return parseRuntimes(await docker(['info', '--format', '{{json .Runtimes}}']));
}

export function chooseRuntime(registered: RegisteredRuntimes, env: Readonly<Record<string, string | undefined>> = process.env): RuntimeChoice {
  const agent = chooseAgentRuntime(registered, env);
  const bundle = chooseBundleRuntime(registered, env);
  const bundleNote = bundle === 'runsc' ? `; the sidecar bundle under gVisor too, as ${BUNDLE_RUNTIME_ENV} asks` : agent.runtime === 'runsc' ? '; the sidecar bundle (bot-bottle\'s own) under runc' : '';
  return { runtime: agent.runtime, bundle, reason: `${agent.reason}${bundleNote}` };
}

function chooseBundleRuntime(registered: RegisteredRuntimes, env: Readonly<Record<string, string | undefined>>): DockerRuntime {
  const asked = env[BUNDLE_RUNTIME_ENV];
  if (asked === undefined || asked === '' || asked === 'runc') return 'runc';
  if (asked === 'runsc') {
    if (registered.runsc === undefined) throw new DockerError(`${BUNDLE_RUNTIME_ENV}=runsc, but gVisor's runsc is not registered with the Docker engine (see scripts/start-docker-engine.sh)`);
    return 'runsc';
  }
  throw new DockerError(`${BUNDLE_RUNTIME_ENV}="${asked.replace(/[^\x20-\x7e]/g, '?').slice(0, 40)}" is not a runtime bot-bottle knows: use runsc or runc`);
}

function chooseAgentRuntime(registered: RegisteredRuntimes, env: Readonly<Record<string, string | undefined>>): Omit<RuntimeChoice, 'bundle'> {
  const runscArgs = registered.runsc;
  const hasRunsc = runscArgs !== undefined;
  // An old runsc registered with --network=host (scripts/start-docker-engine.sh explains why) is still
  // gVisor, on the kernel's network stack inside the container's namespace: the preflight says so.
  const gvisor = `gVisor (runsc${runscArgs !== undefined && runscArgs.length > 0 ? ` ${runscArgs.join(' ')}` : ''})`;
  const asked = env[RUNTIME_ENV];
  if (asked !== undefined && asked !== '') {
    if (asked === 'runsc') {
      if (!hasRunsc) throw new DockerError(`${RUNTIME_ENV}=runsc, but gVisor's runsc is not registered with the Docker engine (install runsc and add it to "runtimes" in /etc/docker/daemon.json; see scripts/start-docker-engine.sh)`);
      return { runtime: 'runsc', reason: `${gvisor}, as ${RUNTIME_ENV} asks` };
    }
    if (asked === 'runc') return { runtime: 'runc', reason: `runc, as ${RUNTIME_ENV} asks${hasRunsc ? ' (gVisor is registered but not used)' : ''}` };
    throw new DockerError(`${RUNTIME_ENV}="${asked.replace(/[^\x20-\x7e]/g, '?').slice(0, 40)}" is not a runtime bot-bottle knows: use runsc or runc`);
  }
  if (hasRunsc) return { runtime: 'runsc', reason: `${gvisor} is registered with the engine: every bottle's agent runs under it` };
  return { runtime: 'runc', reason: 'runc (the engine default): gVisor (runsc) is not registered with the engine, so the agent shares the host kernel' };
}

export async function detectRuntime(env: Readonly<Record<string, string | undefined>> = process.env): Promise<RuntimeChoice> {
  return chooseRuntime(await engineRuntimes(), env);
}
