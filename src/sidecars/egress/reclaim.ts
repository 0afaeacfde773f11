/**
 * Frees relayed body buffers soon after they die. Every TLS record the proxy
 * reads arrives in a fresh 16 KB ArrayBuffer whose memory V8 returns only at
 * the next scavenge, and relaying a body allocates so little JavaScript that
 * scavenges are ~7 MB of upload apart: that much dead buffer memory was
 * resident at once, the egress process's peak (docs/performance.md, Egress,
 * "Session 5"). A young-generation GC every RECLAIM_BYTES relayed keeps the
 * dead buffers under that. Every 2 MB cost ~15 % of upload throughput (the
 * pauses stall the relay); every 4 MB measured as fast as none, for the same
 * peak.
 *
 * Needs `--expose-gc` (BUNDLE_NODE_FLAGS); without it this does nothing.
 */
const gc = (globalThis as { gc?: (options: { type: 'minor' }) => void }).gc;

export const RECLAIM_BYTES = 4 * 1024 * 1024;

let relayed = 0;

/** Counts `n` bytes relayed (request or response body); collects young garbage every RECLAIM_BYTES. */
export function relayedBytes(n: number): void {
  if (gc === undefined) return;
  relayed += n;
  if (relayed < RECLAIM_BYTES) return;
  relayed = 0;
  gc({ type: 'minor' });
}
