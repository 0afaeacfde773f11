import { existsSync } from 'node:fs';
import { onPath, probe } from '../probe.js';
import { notReady } from '../not-ready.js';
import { attachDocker, execDocker, listDocker, stopDocker } from './operations.js';
import type { Availability, Backend } from '../types.js';

export async function dockerAvailability(): Promise<Availability> {
  if (!onPath('docker')) return { available: false, reason: 'the docker CLI is not installed' };
  // Without DOCKER_HOST the engine listens on the default socket; no socket means no engine, no need to ask.
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return { available: false, reason: 'no Docker engine answers (is dockerd running?)' };
  const server = await probe('docker', ['version', '--format', '{{.Server.Version}}']);
  if (!server.ok) return { available: false, reason: 'no Docker engine answers (is dockerd running?)' };
  return { available: true, reason: `Docker engine ${server.output}` };
}

export function dockerBackend(): Backend {
  return {
    name: 'docker',
    // Until launching is implemented, an engine being present must not make auto-detection pick docker.
    availability: async () => {
      const engine = await dockerAvailability();
      return engine.available ? { available: false, reason: `${engine.reason} found, but the docker backend cannot launch bottles in this version yet` } : engine;
    },
    ...notReady('docker'),
    exec: (slug, argv) => execDocker(slug, argv),
    attach: (slug) => attachDocker(slug),
    list: (home) => listDocker(home),
    stop: (slug, home) => stopDocker(slug, home),
  };
}
