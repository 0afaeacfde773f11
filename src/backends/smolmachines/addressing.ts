import { createHash } from 'node:crypto';
import { assertSlug } from '../../plan/slug.js';
import { isIpv4 } from './smolvm.js';

/**
 * Where a bottle's bundle lives (docs/design/smolmachines.md): its own
 * address on a per-bottle Docker network, which is the guest's only
 * allowed destination. The address is decided in the plan (the allow-list
 * is on the plan), so each bottle gets a /29 of a pool, chosen by the slug.
 */
export const POOL_ENV = 'BOT_BOTTLE_SMOLMACHINES_POOL';
export const DEFAULT_POOL = '10.213.0.0/16';

/** The bundle's ports the guest may use; the bundle listens on nothing else on its address. */
export const BUNDLE_PORTS = { egress: 3128, gitGate: 8418, supervise: 8419 } as const;

export interface BundleAddressing {
  /** The per-bottle network's subnet (a /29). */
  subnet: string;
  /** The host's address on that network. */
  gateway: string;
  /** The bundle container's pinned address: the guest's one allowed /32. */
  address: string;
}

export class AddressingError extends Error {
  override name = 'AddressingError';
}

function toInt(ip: string): number {
  return ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

function toIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

export function parsePool(value: string): { base: number; bits: number } {
  const [ip, bitsText, extra] = value.split('/');
  const bits = Number(bitsText);
  if (extra !== undefined || ip === undefined || !isIpv4(ip) || !/^\d{1,2}$/.test(bitsText ?? '') || bits < 8 || bits > 26) {
    throw new AddressingError(`${POOL_ENV}="${value.replace(/[^\x20-\x7e]/g, '?').slice(0, 40)}" is not an IPv4 pool: use a CIDR from /8 to /26, e.g. ${DEFAULT_POOL} (the default)`);
  }
  const size = 2 ** (32 - bits);
  const base = toInt(ip);
  if (base % size !== 0) throw new AddressingError(`${POOL_ENV}=${value}: the address is not the start of its /${bits}`);
  return { base, bits };
}

export function bundleAddressing(slug: string, env: Readonly<Record<string, string | undefined>> = process.env): BundleAddressing {
  const pool = parsePool(env[POOL_ENV] || DEFAULT_POOL);
  const slots = 2 ** (32 - pool.bits) / 8;
  const slot = createHash('sha256').update(assertSlug(slug)).digest().readUInt32BE(0) % slots;
  const start = pool.base + slot * 8;
  return { subnet: `${toIp(start)}/29`, gateway: toIp(start + 1), address: toIp(start + 2) };
}
