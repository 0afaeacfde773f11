import { BACKEND_NAMES, BACKEND_PREFERENCE, type BackendName } from '../plan/types.js';
import { bwrapBackend } from './bwrap/index.js';
import { lazyBackend } from './lazy.js';
import { BackendUnavailableError, type Backend } from './types.js';

/** docker and smolmachines load on first use (lazy.ts): a bwrap launch never parses them. */
export function allBackends(): Record<BackendName, Backend> {
  return {
    bwrap: bwrapBackend(),
    docker: lazyBackend('docker', async () => (await import('./docker/index.js')).dockerBackend(), false),
    smolmachines: lazyBackend('smolmachines', async () => (await import('./smolmachines/index.js')).smolmachinesBackend(), true),
  };
}

export function parseBackendName(value: string, origin: string): BackendName {
  const found = BACKEND_NAMES.find((b) => b === value);
  if (!found) throw new BackendUnavailableError(`${origin} "${value}" is not a backend; choose one of: ${BACKEND_NAMES.join(', ')}`);
  return found;
}

export interface Selection {
  backend: Backend;
  reason: string;
}

/**
 * --backend wins, then BOT_BOTTLE_BACKEND, then the first available in order
 * of isolation strength. An explicit choice that is unavailable is an error,
 * never a silent fallback to something weaker.
 */
export async function selectBackend(opts: {
  flag?: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
  backends?: Record<BackendName, Backend>;
  /** Dry runs may plan for an explicitly chosen backend that is not installed here. */
  requireAvailable?: boolean;
}): Promise<Selection> {
  const backends = opts.backends ?? allBackends();
  const requireAvailable = opts.requireAvailable ?? true;
  const explicit = opts.flag !== undefined
    ? { name: parseBackendName(opts.flag, '--backend'), origin: '--backend' }
    : opts.env.BOT_BOTTLE_BACKEND
      ? { name: parseBackendName(opts.env.BOT_BOTTLE_BACKEND, 'BOT_BOTTLE_BACKEND'), origin: 'BOT_BOTTLE_BACKEND' }
      : undefined;
  if (explicit) {
    const backend = backends[explicit.name];
    const availability = await backend.availability();
    if (!availability.available && requireAvailable) {
      throw new BackendUnavailableError(`backend ${explicit.name} (from ${explicit.origin}) is not available: ${availability.reason}`);
    }
    const note = availability.available ? (availability.detail !== undefined ? `; ${availability.detail}` : '') : ` (not available here: ${availability.reason})`;
    return { backend, reason: `chosen by ${explicit.origin}${note}` };
  }
  // Probe every backend at once (each probe may spawn a program); pick the strongest that answers.
  const results = await Promise.all(BACKEND_PREFERENCE.map(async (name) => ({ name, availability: await backends[name].availability() })));
  const skipped: string[] = [];
  for (const { name, availability } of results) {
    if (availability.available) {
      const why = skipped.length > 0 ? `; skipped ${skipped.join('; ')}` : '';
      return { backend: backends[name], reason: `auto-detected: ${availability.reason}${why}` };
    }
    skipped.push(`${name} (${availability.reason})`);
  }
  throw new BackendUnavailableError(
    `no backend is available: ${skipped.join('; ')}. Install one (scripts/install-system-deps.sh) or pass --backend`,
  );
}
