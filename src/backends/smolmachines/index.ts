import { LaunchError } from '../../launch/errors.js';
import { findOnPath } from '../probe.js';
import type { Availability, Backend } from '../types.js';
import { smolmachinesLaunchBoundary } from './boundary.js';
import { smolvmSpawner } from './guest.js';
import { listSmolmachines, stopSmolmachines } from './operations.js';
import { smolmachinesBoundary } from './plan.js';
import { failedChecks, smolmachinesPreflight, type PreflightOptions } from './preflight.js';
import { smolvmEnv, smolvmRunner } from './smolvm.js';

export async function smolmachinesAvailability(opts: PreflightOptions = {}): Promise<Availability> {
  const checks = await smolmachinesPreflight(opts);
  const failed = failedChecks(checks);
  if (failed.length > 0) return { available: false, reason: failed.map((c) => `${c.detail} (${c.fix ?? 'see docs/design/smolmachines.md'})`).join('; ') };
  return { available: true, reason: checks.map((c) => c.detail).join(', ') };
}

/** smolvm as this process finds it (PATH) with its own knobs (SMOLVM_*) passed through. */
function smolvmFor(env: Readonly<Record<string, string | undefined>>): { run: ReturnType<typeof smolvmRunner>; spawn: ReturnType<typeof smolvmSpawner> } {
  const binary = findOnPath('smolvm', env.PATH) ?? 'smolvm';
  return { run: smolvmRunner({ binary, env }), spawn: smolvmSpawner(binary, smolvmEnv(env)) };
}

export function smolmachinesBackend(): Backend {
  let checked: Promise<Availability> | undefined;
  const availability = (): Promise<Availability> => (checked ??= smolmachinesAvailability());
  return {
    name: 'smolmachines',
    availability,
    async planBoundary(plan, ctx) {
      return smolmachinesBoundary(plan, { home: ctx.home, env: ctx.env, preflight: await smolmachinesPreflight({ pathVar: ctx.env.PATH }) });
    },
    async boundary(plan, ctx) {
      // The launch re-checks what the preflight found: an old smolvm drops the allow-list silently.
      const checks = await smolmachinesPreflight({ pathVar: ctx.hostEnv.PATH });
      const failed = failedChecks(checks);
      if (failed.length > 0) throw new LaunchError(`the smolmachines backend is not available: ${failed.map((c) => `${c.detail} (${c.fix ?? ''})`).join('; ')}`);
      return smolmachinesLaunchBoundary(plan, ctx, smolvmFor(ctx.hostEnv));
    },
    exec: () => Promise.reject(new Error('smolmachines bottles cannot be entered from outside yet; use the terminal that started them')),
    attach: () => Promise.reject(new Error('smolmachines bottles stay attached to the terminal that started them')),
    list: (home) => listSmolmachines(smolvmFor(process.env).run, home),
    stop: (slug, home) => stopSmolmachines(smolvmFor(process.env).run, slug, home),
  };
}
