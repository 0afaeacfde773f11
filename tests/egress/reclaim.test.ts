import { afterEach, describe, expect, it, vi } from 'vitest';

// reclaim.ts reads globalThis.gc (the bundle runs with --expose-gc) when it loads.
describe('relayed-body reclaim', () => {
  const saved = (globalThis as { gc?: unknown }).gc;
  afterEach(() => {
    (globalThis as { gc?: unknown }).gc = saved;
    vi.resetModules();
  });

  it('runs a young-generation GC once per RECLAIM_BYTES relayed, however the bytes are split', async () => {
    const gc = vi.fn();
    (globalThis as { gc?: unknown }).gc = gc;
    vi.resetModules();
    const { relayedBytes, RECLAIM_BYTES } = await import('../../src/sidecars/egress/reclaim.js');
    for (let sent = 0; sent < 5 * RECLAIM_BYTES; sent += 16 * 1024) relayedBytes(16 * 1024);
    expect(gc).toHaveBeenCalledTimes(5);
    expect(gc).toHaveBeenCalledWith({ type: 'minor' });
    relayedBytes(RECLAIM_BYTES - 1);
    expect(gc).toHaveBeenCalledTimes(5);
  });

  it('does nothing without --expose-gc', async () => {
    delete (globalThis as { gc?: unknown }).gc;
    vi.resetModules();
    const { relayedBytes, RECLAIM_BYTES } = await import('../../src/sidecars/egress/reclaim.js');
    expect(() => relayedBytes(10 * RECLAIM_BYTES)).not.toThrow();
  });
});
