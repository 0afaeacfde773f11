import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { knownSlugs } from '../../state/metadata.js';
import { bottleStatePaths } from '../../state/paths.js';
import type { BottleStatus } from '../types.js';
import { processAlive } from '../../util/process.js';

export interface Pids {
  sandbox: number;
  sidecars: number;
}

export function readPids(slug: string, home: string): Pids | undefined {
  const file = join(bottleStatePaths(slug, home).runDir, 'pids.json');
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Pids;
  } catch {
    return undefined;
  }
}


export function listBwrap(home: string): BottleStatus[] {
  const out: BottleStatus[] = [];
  for (const slug of knownSlugs(home)) {
    const pids = readPids(slug, home);
    if (pids) out.push({ slug, backend: 'bwrap', running: processAlive(pids.sandbox), detail: `sandbox pid ${pids.sandbox}` });
  }
  return out;
}

/** Stops a bottle started by this user: the sandbox (its pid namespace dies with it) and then the bundle. */
export function stopBwrap(slug: string, home: string): void {
  const pids = readPids(slug, home);
  if (!pids) return;
  for (const pid of [pids.sandbox, pids.sidecars]) {
    if (processAlive(pid)) process.kill(pid, 'SIGTERM');
  }
}
