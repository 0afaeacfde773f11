import { describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backends/select.js';
import type { Backend } from '../../src/backends/types.js';
import type { BackendName } from '../../src/plan/types.js';

function fake(name: BackendName, available: boolean): Backend {
  const refuse = () => Promise.reject(new Error('fake'));
  return {
    name,
    availability: () => Promise.resolve({ available, reason: available ? `${name} ok` : `${name} missing` }),
    boundary: refuse, exec: refuse, attach: refuse, stop: refuse, list: () => Promise.resolve([]),
  };
}
const set = (avail: Partial<Record<BackendName, boolean>>): Record<BackendName, Backend> => ({
  bwrap: fake('bwrap', avail.bwrap ?? false),
  docker: fake('docker', avail.docker ?? false),
  smolmachines: fake('smolmachines', avail.smolmachines ?? false),
});

describe('backend selection', () => {
  it('auto-detects in order smolmachines, docker, bwrap and says why', async () => {
    const s = await selectBackend({ env: {}, backends: set({ bwrap: true, docker: true }) });
    expect(s.backend.name).toBe('docker');
    expect(s.reason).toBe('auto-detected: docker ok; skipped smolmachines (smolmachines missing)');
    expect((await selectBackend({ env: {}, backends: set({ bwrap: true }) })).backend.name).toBe('bwrap');
  });

  it('the flag beats the environment variable, which beats auto-detection', async () => {
    const backends = set({ bwrap: true, docker: true, smolmachines: true });
    expect((await selectBackend({ flag: 'bwrap', env: { BOT_BOTTLE_BACKEND: 'docker' }, backends })).backend.name).toBe('bwrap');
    const byEnv = await selectBackend({ env: { BOT_BOTTLE_BACKEND: 'docker' }, backends });
    expect(byEnv.backend.name).toBe('docker');
    expect(byEnv.reason).toBe('chosen by BOT_BOTTLE_BACKEND');
  });

  it('never falls back from an explicit but unavailable choice', async () => {
    await expect(selectBackend({ flag: 'docker', env: {}, backends: set({ bwrap: true }) })).rejects.toThrow(
      'backend docker (from --backend) is not available: docker missing',
    );
    const dry = await selectBackend({ flag: 'docker', env: {}, backends: set({}), requireAvailable: false });
    expect(dry.reason).toBe('chosen by --backend (not available here: docker missing)');
  });

  it('explains when nothing is available', async () => {
    await expect(selectBackend({ env: {}, backends: set({}) })).rejects.toThrow(/no backend is available: smolmachines \(smolmachines missing\); docker \(docker missing\); bwrap \(bwrap missing\)/);
  });
});
