import { join } from 'node:path';
import type { BoundaryPreflight, SmolmachinesBoundaryPlan } from '../../plan/boundary.js';
import type { BottlePlan } from '../../plan/types.js';
import { assertSlug } from '../../plan/slug.js';
import { BUNDLE_PORTS, bundleAddressing } from './addressing.js';
import { failedChecks, type PreflightCheck } from './preflight.js';
import { createArgs, deleteArgs, execArgs, machineNameFor, startArgs, stopArgs } from './smolvm.js';

/** Packs are per host and per image, not per bottle: they live beside the state folders. */
export function packCacheDir(home: string): string {
  return join(home, 'cache', 'smolmachines');
}

export const PACK_PLACEHOLDER = '<pack>';

/** The per-bottle network the bundle alone sits on (its agent-facing leg). */
export function bundleNetworkName(slug: string): string {
  return `bot-bottle-${assertSlug(slug)}-bundle`;
}

/** The readiness probe: `start` already waits for the guest agent; this proves exec works. */
export function readyCommand(name: string): string[] {
  return execArgs(name, ['true'], { timeoutSeconds: 10 });
}

/**
 * The smolmachines part of a plan: pure apart from the preflight result it
 * is handed. Nothing here holds a secret: the machine gets no `-e` at all.
 */
export function smolmachinesBoundary(
  plan: Pick<BottlePlan, 'slug' | 'stateDir' | 'provider' | 'sidecars'>,
  opts: { home: string; env: Readonly<Record<string, string | undefined>>; preflight: readonly PreflightCheck[] },
): SmolmachinesBoundaryPlan {
  const addressing = bundleAddressing(plan.slug, opts.env);
  const machine = machineNameFor(plan.slug);
  const allowCidrs = [`${addressing.address}/32`];
  const failed = failedChecks(opts.preflight);
  const preflight: BoundaryPreflight = { ok: failed.length === 0, failed };
  const cacheDir = packCacheDir(opts.home);
  const image = plan.provider.image;
  return {
    backend: 'smolmachines',
    preflight,
    bundle: {
      network: bundleNetworkName(plan.slug),
      ...addressing,
      ports: {
        egress: BUNDLE_PORTS.egress,
        ...(plan.sidecars.gitGate.repos.length > 0 ? { gitGate: BUNDLE_PORTS.gitGate } : {}),
        supervise: BUNDLE_PORTS.supervise,
      },
    },
    guest: { machine, allowCidrs, dns: addressing.address },
    smolvm: {
      create: createArgs({ name: machine, from: `${PACK_PLACEHOLDER}.smolmachine`, allowCidrs, dns: addressing.address }).map((a) =>
        a === `${PACK_PLACEHOLDER}.smolmachine` ? PACK_PLACEHOLDER : a,
      ),
      start: startArgs(machine),
      ready: readyCommand(machine),
      stop: stopArgs(machine),
      delete: deleteArgs(machine),
    },
    image: {
      source:
        image.kind === 'dockerfile'
          ? `Dockerfile ${image.path} (or the bottle's override ${join(plan.stateDir, 'Dockerfile')})`
          : `the ${plan.provider.template} provider's image (or the bottle's override ${join(plan.stateDir, 'Dockerfile')})`,
      key: 'the docker backend\'s fingerprint tag (Dockerfile, base image id, build arguments, staged program)',
    },
    pack: { cacheDir, file: join(cacheDir, '<image-id>.smolmachine') },
  };
}
