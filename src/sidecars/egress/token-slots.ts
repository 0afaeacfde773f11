import type { EgressRoutePlan } from '../../routes/model.js';

/**
 * Every token slot a route serves must hold a value when egress starts: a
 * missing one fails the bundle before it reports ready, naming the slot and
 * where its value comes from (the route's `tokenRef`: the host variable, or
 * the Codex auth file), never any value.
 */
export function assertTokenSlots(routes: readonly EgressRoutePlan[], secrets: Readonly<Record<string, string | undefined>>): void {
  const missing = new Map<string, string>();
  for (const route of routes) {
    const auth = route.auth;
    if (auth && !secrets[auth.tokenSlot]) missing.set(auth.tokenSlot, auth.tokenRef);
  }
  if (missing.size === 0) return;
  const list = [...missing].map(([slot, ref]) => `token slot ${slot} (${/^[A-Za-z_][A-Za-z0-9_]*$/.test(ref) ? `host variable ${ref}` : ref})`);
  throw new Error(`egress has no value for ${list.join(', ')}: the launcher did not hand it over in the bundle's secrets file; set it on the host and launch again`);
}
