import { probe } from '../probe.js';
import { notReady } from '../not-ready.js';
import type { Availability, Backend } from '../types.js';

export async function dockerAvailability(): Promise<Availability> {
  const server = await probe('docker', ['version', '--format', '{{.Server.Version}}']);
  if (!server.ok) return { available: false, reason: 'no Docker engine answers (is dockerd running?)' };
  return { available: true, reason: `Docker engine ${server.output}` };
}

export function dockerBackend(): Backend {
  return { name: 'docker', availability: dockerAvailability, ...notReady('docker') };
}
