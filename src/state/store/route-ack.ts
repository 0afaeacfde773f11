import type { EgressRoutePlan } from '../../routes/model.js';
import type { RoutesStore } from './types.js';

/** Whether a change to the live route table is in force. */
export type RouteLiveness =
  | { state: 'applied' }
  /** Egress read the table and refused it: it keeps serving the previous one. */
  | { state: 'refused'; error: string }
  /** No live table: the bottle is not running (`resume` picks approved routes up). */
  | { state: 'not-running' }
  /** The table holds the change, and no egress acknowledges loads of it (none ever wrote an acknowledgement). */
  | { state: 'written' }
  /** Egress acknowledges loads but did not acknowledge this table in time (stuck, or stopped). */
  | { state: 'unconfirmed' };

/**
 * Wait (bounded) until the live table holds what `wanted` looks for and
 * egress has acknowledged that very generation, applied or refused. A later
 * write (another approval) moves the generation on; the wait follows it,
 * since tables only grow. With no acknowledgement at all there is no egress
 * serving this table, so there is nothing to wait for.
 */
export async function waitUntilLive(
  store: RoutesStore,
  wanted: (routes: readonly EgressRoutePlan[]) => boolean,
  opts: { timeoutMs: number; signal?: AbortSignal; intervalMs?: number },
): Promise<RouteLiveness> {
  const interval = opts.intervalMs ?? 25;
  const rounds = Math.max(1, Math.ceil(opts.timeoutMs / interval));
  for (let i = 0; i < rounds && !opts.signal?.aborted; i++) {
    let live;
    try {
      live = await store.readLive();
    } catch {
      live = null; // damaged: egress will refuse it and say so; look again
    }
    if (live === undefined) return { state: 'not-running' };
    if (live && wanted(live.routes)) {
      const ack = await store.readAck();
      if (ack === undefined) return { state: 'written' };
      if (ack.generation === live.generation) return ack.applied ? { state: 'applied' } : { state: 'refused', error: ack.error };
    } else if (live === null) {
      const ack = await store.readAck();
      if (ack && !ack.applied) return { state: 'refused', error: ack.error };
    }
    await new Promise((r) => setTimeout(r, interval));
  }
  return { state: 'unconfirmed' };
}
