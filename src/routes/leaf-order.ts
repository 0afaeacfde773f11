import type { EgressRoutePlan } from './model.js';

/**
 * The order egress mints routed hosts' leaf certificates ahead of use: exact
 * hosts only (a wildcard has no one name to mint), those with injected auth
 * (the model API) first. The containment probe's handshake asks for the first
 * of them, so the leaf egress mints right after its ready line is the one the
 * probe, and then the agent, meets.
 */
export function leafOrder(routes: ReadonlyArray<Pick<EgressRoutePlan, 'host' | 'auth'>>): string[] {
  const exact = routes.filter((r) => !r.host.startsWith('*.'));
  const ordered = [...exact.filter((r) => r.auth !== undefined), ...exact.filter((r) => r.auth === undefined)];
  return [...new Set(ordered.map((r) => r.host.toLowerCase()))];
}
