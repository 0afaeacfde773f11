import { execFileSync } from 'node:child_process';
import { OFFLINE_BASE_IMAGE } from '../../src/backends/docker/images.js';
import { listBottleResources } from '../../src/backends/docker/resources.js';

/**
 * Docker backend tests need a real engine (and, for some, gVisor and the
 * offline base image). Locally a missing one skips with the reason; in CI
 * (CI=true) it is a failure, because .ci/run starts the engine, registers
 * runsc and builds the base.
 */
function missing(reason: string): string {
  if (process.env.CI === 'true') throw new Error(`CI prerequisite missing: ${reason}`);
  return reason;
}

function runs(args: string[]): string | undefined {
  try {
    return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000 }).trim();
  } catch {
    return undefined;
  }
}

let engine: string | undefined | null = null;

export function missingDockerEngine(): string | undefined {
  if (engine === null) engine = runs(['info', '--format', '{{.ServerVersion}}']) === undefined ? 'docker engine missing (start one: scripts/start-docker-engine.sh)' : undefined;
  return engine === undefined ? undefined : missing(engine);
}

/** The base every test image builds on, so no test needs a registry. */
export function missingOfflineBase(): string | undefined {
  return (
    missingDockerEngine() ??
    (runs(['image', 'inspect', '--format', '{{.Id}}', OFFLINE_BASE_IMAGE]) === undefined ? missing(`${OFFLINE_BASE_IMAGE} missing (scripts/build-offline-base-image.sh)`) : undefined)
  );
}

export function missingRunsc(): string | undefined {
  return missingDockerEngine() ?? ((runs(['info', '--format', '{{json .Runtimes}}']) ?? '').includes('"runsc"') ? undefined : missing('gVisor (runsc) is not registered with the docker engine (scripts/start-docker-engine.sh)'));
}

/** Image options for tests: the offline base, builds without any network. */
export const OFFLINE_BUILD = { env: { BOT_BOTTLE_DOCKER_BASE_IMAGE: OFFLINE_BASE_IMAGE }, buildNetwork: 'none' as const };

/** What of docker bottle `slug` is still there (containers, networks, host firewall rules), by its label and rule comment. */
export async function dockerLeftovers(slug: string): Promise<string[]> {
  const found = (await listBottleResources()).get(slug);
  if (found === undefined) return [];
  return [...found.containers.map((c) => `container ${c.name}`), ...found.networks.map((n) => `network ${n.name}`), ...found.firewallRules.map((r) => `${r.family} rule ${r.bridge}`)];
}
