import { describe, expect, it, vi } from 'vitest';
import type { Backend } from '../../src/backends/types.js';
import type { BackendName } from '../../src/plan/types.js';

// Each factory runs when its module is first imported: the flags say whether a module was loaded.
const loaded = vi.hoisted(() => ({ docker: 0, smolmachines: 0 }));

function fake(name: BackendName, planned: boolean): Backend {
  const refuse = () => Promise.reject(new Error('fake'));
  return {
    name,
    availability: () => Promise.resolve({ available: false, reason: `${name} fake` }),
    ...(planned ? { planBoundary: () => Promise.reject(new Error(`${name} planBoundary`)) } : {}),
    boundary: refuse, exec: refuse, attach: refuse, stop: refuse, list: () => Promise.resolve([]),
  };
}

vi.mock('../../src/backends/docker/index.js', () => {
  loaded.docker++;
  return { dockerBackend: () => fake('docker', false) };
});
vi.mock('../../src/backends/smolmachines/index.js', () => {
  loaded.smolmachines++;
  return { smolmachinesBackend: () => fake('smolmachines', true) };
});

const { allBackends, selectBackend } = await import('../../src/backends/select.js');
const { lazyBackend } = await import('../../src/backends/lazy.js');

describe('lazily loaded backends', () => {
  it('a bwrap selection never loads the docker or smolmachines modules; their first call does, once', async () => {
    const backends = allBackends();
    const chosen = await selectBackend({ flag: 'bwrap', env: {}, backends, requireAvailable: false });
    expect(chosen.backend.name).toBe('bwrap');
    expect(backends.docker.name).toBe('docker');
    expect('planBoundary' in backends.docker).toBe(false);
    expect('planBoundary' in backends.smolmachines).toBe(true);
    expect(loaded).toEqual({ docker: 0, smolmachines: 0 });

    expect(await backends.docker.availability()).toEqual({ available: false, reason: 'docker fake' });
    expect(await backends.docker.list('/nonexistent')).toEqual([]);
    await expect(backends.smolmachines.planBoundary?.({} as never, { home: '/x', env: {} })).rejects.toThrow('smolmachines planBoundary');
    expect(loaded).toEqual({ docker: 1, smolmachines: 1 });
  });

  it('loads one backend instance and keeps it, so its own caches hold', async () => {
    const load = vi.fn(() => Promise.resolve(fake('docker', false)));
    const backend = lazyBackend('docker', load, false);
    expect(load).not.toHaveBeenCalled();
    await Promise.all([backend.availability(), backend.availability(), backend.list('/x')]);
    await expect(backend.exec('slug', ['true'])).rejects.toThrow('fake');
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('refuses a module that is not the backend its entry names, or disagrees about planBoundary', async () => {
    await expect(lazyBackend('docker', () => Promise.resolve(fake('bwrap', false)), false).availability()).rejects.toThrow(/does not match its lazy entry/);
    await expect(lazyBackend('smolmachines', () => Promise.resolve(fake('smolmachines', false)), true).availability()).rejects.toThrow(/does not match its lazy entry/);
  });

  it('the real modules match their lazy entries (name, planBoundary)', async () => {
    const real = await vi.importActual<typeof import('../../src/backends/docker/index.js')>('../../src/backends/docker/index.js');
    const realSmol = await vi.importActual<typeof import('../../src/backends/smolmachines/index.js')>('../../src/backends/smolmachines/index.js');
    const docker = real.dockerBackend();
    const smol = realSmol.smolmachinesBackend();
    expect([docker.name, 'planBoundary' in docker]).toEqual(['docker', false]);
    expect([smol.name, 'planBoundary' in smol]).toEqual(['smolmachines', true]);
  });
});
