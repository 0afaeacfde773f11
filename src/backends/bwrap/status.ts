import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { knownSlugs } from '../../state/metadata.js';
import { botBottleHome, bottleStatePaths } from '../../state/paths.js';
import type { BottleStatus } from '../types.js';

interface Pids {
  sandbox: number;
  sidecars: number;
}

function readPids(slug: string, home: string): Pids | undefined {
  const file = join(bottleStatePaths(slug, home).runDir, 'pids.json');
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Pids;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function listBwrap(home: string = botBottleHome()): BottleStatus[] {
  const out: BottleStatus[] = [];
  for (const slug of knownSlugs(home)) {
    const pids = readPids(slug, home);
    if (pids) out.push({ slug, backend: 'bwrap', running: alive(pids.sandbox), detail: `sandbox pid ${pids.sandbox}` });
  }
  return out;
}

/** Stops a bottle started by this user: the sandbox (its pid namespace dies with it) and then the bundle. */
export function stopBwrap(slug: string, home: string = botBottleHome()): void {
  const pids = readPids(slug, home);
  if (!pids) return;
  for (const pid of [pids.sandbox, pids.sidecars]) {
    if (alive(pid)) process.kill(pid, 'SIGTERM');
  }
}
