import { docker, DockerError } from './cli.js';

/**
 * Which OCI runtime every container of a bottle runs under. gVisor (`runsc`)
 * puts a user-space kernel between the agent and the host's, so when it is
 * registered with the engine every bottle uses it, and the preflight says
 * which one was chosen and why. BOT_BOTTLE_DOCKER_RUNTIME=runc|runsc chooses
 * explicitly (the test suite runs under both); asking for runsc where it is
 * not registered is an error, never a quiet fallback.
 */
export type DockerRuntime = 'runsc' | 'runc';

export interface RuntimeChoice {
  runtime: DockerRuntime;
  /** One line for the preflight. */
  reason: string;
}

export const RUNTIME_ENV = 'BOT_BOTTLE_DOCKER_RUNTIME';

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
  if (hasRunsc) return { runtime: 'runsc', reason: `${gvisor} is registered with the engine: every bottle runs under it` };
  return { runtime: 'runc', reason: 'runc (the engine default): gVisor (runsc) is not registered with the engine, so the agent shares the host kernel' };
}

export async function detectRuntime(env: Readonly<Record<string, string | undefined>> = process.env): Promise<RuntimeChoice> {
  return chooseRuntime(await engineRuntimes(), env);
}
