import { pidsFile, readPids, recordedStates, staleNote, type Pids } from './pids.js';
import { processState, signalProcess } from './process-identity.js';

/**
 * The CLI that launched a bottle, as its pids record tells (identity-checked,
 * never a bare pid): the one place stop and cleanup of the container-based
 * backends ask whether a bottle is still owned.
 */
export type CliState = 'alive' | 'gone' | 'unrecorded' | { problem: string };

export function launchingCli(slug: string, home: string): { state: CliState; pids?: Pids } {
  const read = readPids(pidsFile(slug, home));
  if (read === undefined) return { state: 'unrecorded' };
  if ('problem' in read) return { state: { problem: read.problem } };
  const cli = read.pids.cli;
  return { state: cli !== undefined && processState(cli, read.pids.boot) === 'alive' ? 'alive' : 'gone', pids: read.pids };
}

/**
 * A stop's first move: SIGTERM to the launching CLI when it is alive (it then
 * tears the bottle down and exits non-zero), with a note for each stale or
 * unreadable record.
 */
export function signalLaunchingCli(slug: string, home: string): { signalled: boolean; pids?: Pids; notes: string[]; incomplete: boolean } {
  const notes: string[] = [];
  let incomplete = false;
  const { state, pids } = launchingCli(slug, home);
  if (typeof state === 'object') {
    notes.push(`${state.problem}: its processes are not signalled`);
    incomplete = true;
  }
  for (const r of pids === undefined ? [] : recordedStates(pids)) if (r.state === 'stale') notes.push(staleNote(r.role, r.id, slug));
  const signalled = pids?.cli !== undefined && state === 'alive' && signalProcess(pids.cli, pids.boot, 'SIGTERM') === 'signalled';
  return { signalled, ...(pids ? { pids } : {}), notes, incomplete };
}

/** Waits (bounded) until the recorded CLI is no longer alive; true when it is gone. */
export async function cliGone(pids: Pids | undefined, limitMs: number): Promise<boolean> {
  const cli = pids?.cli;
  if (pids === undefined || cli === undefined) return true;
  const until = Date.now() + limitMs;
  for (;;) {
    if (processState(cli, pids.boot) !== 'alive') return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
