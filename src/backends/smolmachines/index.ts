import { dockerAvailability } from '../docker/index.js';
import { onPath, probe } from '../probe.js';
import { notReady } from '../not-ready.js';
import type { Availability, Backend } from '../types.js';

export function smolmachinesBackend(): Backend {
  return {
    name: 'smolmachines',
    async availability(): Promise<Availability> {
      const smolvm = onPath('smolvm') ? await probe('smolvm', ['--version']) : { ok: false, output: '' };
      if (!smolvm.ok) return { available: false, reason: 'smolvm is not installed' };
      const docker = await dockerAvailability();
      if (!docker.available) return { available: false, reason: `smolvm needs Docker for the sidecar bundle: ${docker.reason}` };
      return { available: false, reason: `${smolvm.output} + ${docker.reason} found, but the smolmachines backend cannot launch bottles in this version yet` };
    },
    ...notReady('smolmachines'),
  };
}
