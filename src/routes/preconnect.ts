import type { EgressRoutePlan } from './model.js';
import { leafOrder } from './leaf-order.js';

/** At most this many hosts get a connection opened ahead of use: the model API, and one more. */
export const PRECONNECT_MAX = 2;

/**
 * Names that cannot exist on the internet (RFC 2606, RFC 6761): opening a
 * connection ahead to one gains nothing, and a lookup of it would only leak
 * the name to the machine's resolver.
 */
const RESERVED = /(^|\.)(test|example|invalid|localhost|local)$|(^|\.)example\.(com|net|org)$/;

/**
 * The routed hosts egress connects to ahead of the agent's first request:
 * those it injects a token for (the model API: the agent's first requests go
 * there, and each would otherwise wait for a TCP and TLS handshake across the
 * internet), exact names only, in the order egress mints their leaves.
 * `BOT_BOTTLE_PRECONNECT=0` turns it off (tests whose hosts resolve nowhere).
 */
export function preconnectTargets(routes: readonly EgressRoutePlan[], hostEnv: Readonly<Record<string, string | undefined>>): Array<{ host: string; port: number }> {
  if (hostEnv.BOT_BOTTLE_PRECONNECT === '0') return [];
  const withAuth = routes.filter((r) => r.auth !== undefined);
  return leafOrder(withAuth)
    .filter((host) => !RESERVED.test(host))
    .slice(0, PRECONNECT_MAX)
    .map((host) => ({ host, port: withAuth.find((r) => r.host.toLowerCase() === host)!.port }));
}
