import { existsSync } from 'node:fs';
import { LaunchError } from '../../launch/errors.js';
import { onPath, probe } from '../probe.js';
import { attachDocker, execDocker, listDocker, stopDocker } from './operations.js';
import type { Availability, Backend } from '../types.js';
import { dockerBoundary } from './boundary.js';
import { engineRequest, engineSocket } from './engine.js';
import { hostFirewallSupport } from './firewall.js';
import { chooseRuntime, parseRuntimes, type RuntimeChoice } from './runtime.js';

export async function dockerAvailability(): Promise<Availability> {
  return (await checkDocker()).availability;
}

/**
 * One look at the engine (its version and registered runtimes in one
 * `docker info`) and, beside it, at the host firewall: the docker backend is
 * available only where the engine answers and the rule that keeps the
 * bottle's bridge off the host can be enforced. The runtime every bottle
 * will use is part of the answer, so the preflight can say it.
 */
async function checkDocker(): Promise<{ availability: Availability; runtime?: RuntimeChoice }> {
  if (!onPath('docker')) return { availability: { available: false, reason: 'the docker CLI is not installed' } };
  // Without DOCKER_HOST the engine listens on the default socket; no socket means no engine, no need to ask.
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return { availability: { available: false, reason: 'no Docker engine answers (is dockerd running?)' } };
  const [info, firewall] = await Promise.all([engineInfo(), hostFirewallSupport()]);
  const { version, runtimes } = info ?? {};
  if (version === undefined || runtimes === undefined || version === '') return { availability: { available: false, reason: 'no Docker engine answers (is dockerd running?)' } };
  if (!firewall.ok) return { availability: { available: false, reason: `Docker engine ${version} found, but ${firewall.reason}` } };
  let runtime: RuntimeChoice;
  try {
    runtime = chooseRuntime(parseRuntimes(runtimes));
  } catch (error) {
    return { availability: { available: false, reason: error instanceof Error ? error.message : String(error) } };
  }
  return { availability: { available: true, reason: `Docker engine ${version}; runtime ${runtime.reason}`, detail: `runtime ${runtime.reason}` }, runtime };
}

/** The engine's version and registered runtimes (as `docker info`'s JSON), over its socket where it is local (engine.ts). */
async function engineInfo(): Promise<{ version: string; runtimes: string } | undefined> {
  const socket = engineSocket();
  if (socket === undefined) {
    const info = await probe('docker', ['info', '--format', '{{.ServerVersion}}\t{{json .Runtimes}}']);
    const [version, runtimes] = (info.output.split('\n')[0] ?? '').split('\t');
    return info.ok && version !== undefined && runtimes !== undefined ? { version, runtimes } : undefined;
  }
  try {
    const reply = await engineRequest(socket, 'GET', '/info', 'docker info', undefined, 20_000);
    const body = reply.body as { ServerVersion?: unknown; Runtimes?: unknown } | undefined;
    if (reply.status !== 200 || typeof body?.ServerVersion !== 'string') return undefined;
    return { version: body.ServerVersion, runtimes: JSON.stringify(body.Runtimes ?? {}) };
  } catch {
    return undefined;
  }
}

export function dockerBackend(): Backend {
  let checked: ReturnType<typeof checkDocker> | undefined;
  const check = (): ReturnType<typeof checkDocker> => (checked ??= checkDocker());
  return {
    name: 'docker',
    availability: async () => (await check()).availability,
    async boundary(plan, ctx) {
      const { availability, runtime } = await check();
      if (runtime === undefined) throw new LaunchError(`the docker backend is not available: ${availability.reason}`);
      return dockerBoundary(plan, ctx, runtime);
    },
    exec: (slug, argv) => execDocker(slug, argv),
    attach: (slug) => attachDocker(slug),
    list: (home) => listDocker(home),
    stop: (slug, home) => stopDocker(slug, home),
  };
}
