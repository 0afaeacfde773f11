import { createHash } from 'node:crypto';
import { assertSlug } from '../../plan/slug.js';
import { DockerError } from './cli.js';

/**
 * The internal network's addresses, decided before anything exists: the
 * bundle is pinned at a known address so the agent finds it through its
 * /etc/hosts (`--add-host`) and needs no resolver at all (its DNS then
 * fails at once instead of waiting on Docker's embedded resolver, which
 * never answers an unknown name on an `--internal` network). Each bottle
 * gets a /29 of a pool, chosen by the slug; a slot another network holds
 * is skipped (network.ts tries the next ones).
 */
export const DOCKER_POOL_ENV = 'BOT_BOTTLE_DOCKER_POOL';
export const DEFAULT_DOCKER_POOL = '10.214.0.0/16';

export interface InternalAddressing {
  subnet: string;
  /** The host's address on the bridge (what the firewall rule closes). */
  gateway: string;
  /** The bundle's pinned address (the agent's /etc/hosts names it by its alias). */
  bundle: string;
  /** The agent's pinned address. */
  agent: string;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function toInt(ip: string): number {
  return ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

function toIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

function parsePool(value: string): { base: number; bits: number } {
  const [ip, bitsText, extra] = value.split('/');
  const bits = Number(bitsText);
  if (extra !== undefined || ip === undefined || !IPV4.test(ip) || !/^\d{1,2}$/.test(bitsText ?? '') || bits < 8 || bits > 26) {
    throw new DockerError(`${DOCKER_POOL_ENV}="${value.replace(/[^\x20-\x7e]/g, '?').slice(0, 40)}" is not an IPv4 pool: use a CIDR from /8 to /26, e.g. ${DEFAULT_DOCKER_POOL} (the default)`);
  }
  const base = toInt(ip);
  if (base % 2 ** (32 - bits) !== 0) throw new DockerError(`${DOCKER_POOL_ENV}=${value}: the address is not the start of its /${bits}`);
  return { base, bits };
}

/** The `attempt`-th candidate /29 for a bottle (0: the slug's own slot, then the following ones, wrapping). */
export function internalAddressing(slug: string, attempt = 0, env: Readonly<Record<string, string | undefined>> = process.env): InternalAddressing {
  const pool = parsePool(env[DOCKER_POOL_ENV] || DEFAULT_DOCKER_POOL);
  const slots = 2 ** (32 - pool.bits) / 8;
  const slot = (createHash('sha256').update(assertSlug(slug)).digest().readUInt32BE(0) + attempt) % slots;
  const start = pool.base + slot * 8;
  return { subnet: `${toIp(start)}/29`, gateway: toIp(start + 1), bundle: toIp(start + 2), agent: toIp(start + 3) };
}
