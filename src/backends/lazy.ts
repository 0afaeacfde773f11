import type { BackendName } from '../plan/types.js';
import type { Backend } from './types.js';

/**
 * A backend whose module loads on its first call. The docker and smolmachines
 * backends carry execa and their engine clients (a quarter of the CLI's
 * program chunk); a bwrap launch never calls them, so it never parses them.
 * Every Backend method is async, so the wrapper only delays the import; one
 * instance is loaded and kept, so a backend's own caches (its availability
 * check) hold as before. `planned` says whether the real backend has
 * planBoundary: callers test for the method itself, before anything loads.
 */
export function lazyBackend(name: BackendName, load: () => Promise<Backend>, planned: boolean): Backend {
  let loaded: Promise<Backend> | undefined;
  const backend = async (): Promise<Backend> => {
    const real = await (loaded ??= load());
    if (real.name !== name || (real.planBoundary !== undefined) !== planned) {
      throw new Error(`backend module for ${name} does not match its lazy entry (name ${real.name}, planBoundary ${real.planBoundary !== undefined})`);
    }
    return real;
  };
  const lazy: Backend = {
    name,
    availability: async () => (await backend()).availability(),
    boundary: async (plan, ctx) => (await backend()).boundary(plan, ctx),
    exec: async (slug, argv) => (await backend()).exec(slug, argv),
    attach: async (slug) => (await backend()).attach(slug),
    list: async (home) => (await backend()).list(home),
    stop: async (slug, home) => (await backend()).stop(slug, home),
  };
  if (planned) {
    lazy.planBoundary = async (plan, ctx) => {
      const real = await backend();
      if (real.planBoundary === undefined) throw new Error(`backend ${name} has no planBoundary`);
      return real.planBoundary(plan, ctx);
    };
  }
  return lazy;
}
