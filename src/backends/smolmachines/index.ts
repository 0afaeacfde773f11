import { notReady } from '../not-ready.js';
import type { Availability, Backend } from '../types.js';
import { smolmachinesBoundary } from './boundary.js';
import { failedChecks, smolmachinesPreflight, type PreflightOptions } from './preflight.js';

export async function smolmachinesAvailability(opts: PreflightOptions = {}): Promise<Availability> {
  const checks = await smolmachinesPreflight(opts);
  const failed = failedChecks(checks);
  if (failed.length > 0) return { available: false, reason: failed.map((c) => `${c.detail} (${c.fix ?? 'see docs/design/smolmachines.md'})`).join('; ') };
  // Until launching is wired, a host that has everything must not make auto-detection pick smolmachines.
  return { available: false, reason: `${checks.map((c) => c.detail).join(', ')} found, but the smolmachines backend cannot launch bottles in this version yet` };
}

export function smolmachinesBackend(): Backend {
  return {
    name: 'smolmachines',
    availability: () => smolmachinesAvailability(),
    async planBoundary(plan, ctx) {
      return smolmachinesBoundary(plan, { home: ctx.home, env: ctx.env, preflight: await smolmachinesPreflight({ pathVar: ctx.env.PATH }) });
    },
    ...notReady('smolmachines'),
  };
}
