import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * Destination resolution with the SSRF guard. The address that passed the
 * check is the one the upstream socket connects to (connect() takes it from
 * here), so there is no second resolution an attacker's DNS could flip.
 */
export interface Resolved {
  address: string;
  family: 4 | 6;
  /** True when BOT_BOTTLE_RESOLVE pinned it (operator-mapped; private addresses allowed). */
  pinned: boolean;
}

export class ResolveError extends Error {
  override name = 'ResolveError';
}

const denied = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  denied.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['::ffff:0:0', 96], // IPv4-mapped: checked again as IPv4 below
  ['64:ff9b::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  denied.addSubnet(net, prefix, 'ipv6');
}

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return denied.check(address, 'ipv4');
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return denied.check(mapped[1]!, 'ipv4');
    return denied.check(address, 'ipv6');
  }
  return true;
}

/** Parses `host:port:addr[,host:port:addr…]` (curl --resolve syntax; IPv6 in brackets). */
export function parseResolveOverrides(spec: string | undefined): Map<string, string> {
  const map = new Map<string, string>();
  if (!spec) return map;
  for (const entry of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([^:]+):(\d{1,5}):(\[[0-9a-fA-F:.]+\]|[0-9.]+)$/.exec(entry);
    const addr = m?.[3]?.replace(/^\[|\]$/g, '');
    if (!m || !addr || isIP(addr) === 0) {
      throw new Error(`BOT_BOTTLE_RESOLVE entry ${JSON.stringify(entry)} is invalid: use host:port:address`);
    }
    map.set(`${m[1]!.toLowerCase()}:${Number(m[2])}`, addr);
  }
  return map;
}

interface CacheEntry {
  at: number;
  value: Promise<Resolved>;
  /** Set once `value` fulfils (never for a rejection: those leave the cache). */
  settled?: Resolved;
}

export class Resolver {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly overrides: ReadonlyMap<string, string>,
    private readonly ttlMs = 30_000,
  ) {}

  resolve(host: string, port: number): Promise<Resolved> {
    const key = `${host.toLowerCase()}:${port}`;
    const hit = this.cache.get(key);
    const now = Date.now();
    if (hit && now - hit.at < this.ttlMs) return hit.value;
    const value = this.resolveUncached(key, host);
    const entry: CacheEntry = { at: now, value };
    this.cache.set(key, entry);
    value.then(
      (r) => (entry.settled = r),
      () => this.cache.delete(key),
    );
    return value;
  }

  /**
   * The cached answer when it has settled and is within its TTL: lets the hot path
   * skip a promise per request. Same answer, same checks as `resolve`.
   */
  peek(host: string, port: number): Resolved | undefined {
    const hit = this.cache.get(`${host.toLowerCase()}:${port}`);
    return hit?.settled !== undefined && Date.now() - hit.at < this.ttlMs ? hit.settled : undefined;
  }

  private async resolveUncached(key: string, host: string): Promise<Resolved> {
    const pinned = this.overrides.get(key);
    if (pinned) return { address: pinned, family: isIP(pinned) === 6 ? 6 : 4, pinned: true };
    let addrs: { address: string; family: number }[];
    try {
      addrs = await lookup(host, { all: true, verbatim: true });
    } catch (err) {
      throw new ResolveError(`cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    // Any private answer refuses the host: a mixed answer is a rebinding tell.
    const bad = addrs.find((a) => isPrivateAddress(a.address));
    if (bad) {
      throw new ResolveError(
        `${host} resolves to a loopback/private/link-local address (${bad.address}); refused (SSRF guard)`,
      );
    }
    const first = addrs[0];
    if (!first) throw new ResolveError(`cannot resolve ${host}: no addresses`);
    return { address: first.address, family: first.family === 6 ? 6 : 4, pinned: false };
  }
}
