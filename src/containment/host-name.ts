import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';

const GENERIC = /^(localhost|localhost\.localdomain|localhost6|ip6-\w+|broadcasthost)$/i;

/**
 * A name the host resolves without the network, for the DNS check: a name
 * from the host's /etc/hosts (ones pinned to a real address first; Debian
 * also lists the host's own name there). The bottle has its own /etc/hosts
 * and no resolver, so such a name resolving inside means the host's files or
 * resolver leaked in. Only /etc/hosts names are tried: a name that goes to
 * DNS could hold the CLI's exit for the resolver's whole timeout offline.
 * Undefined when the host resolves none within `ms` (the check is then
 * skipped, and says so).
 */
export async function hostResolvedName(exclude: readonly string[], ms = 300, hostsFile = '/etc/hosts'): Promise<string | undefined> {
  const pinned: string[] = [];
  const loopback: string[] = [];
  let text = '';
  try {
    text = readFileSync(hostsFile, 'utf8');
  } catch {
    // No hosts file: no name to try.
  }
  for (const line of text.split('\n')) {
    const [address, ...names] = (line.split('#')[0] ?? '').trim().split(/\s+/);
    if (!address) continue;
    const loop = address.startsWith('127.') || address === '::1';
    for (const name of names) (loop ? loopback : pinned).push(name);
  }
  const ignore = new Set(exclude.map((n) => n.toLowerCase()));
  const candidates = [...new Set([...pinned, ...loopback])].filter((n) => n.length > 0 && !GENERIC.test(n) && !ignore.has(n.toLowerCase()));
  for (const name of candidates.slice(0, 4)) {
    if (await resolvesWithin(name, ms)) return name;
  }
  return undefined;
}

async function resolvesWithin(name: string, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const ok = await Promise.race([
    lookup(name).then(
      () => true,
      () => false,
    ),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  return ok;
}
