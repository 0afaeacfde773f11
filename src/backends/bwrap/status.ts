import { knownSlugs } from '../../state/metadata.js';
import { bottleRunning, pidsFile, readPids, recordedStates, ROLE_NAMES, staleNote, type PidRole, type Pids } from '../../state/pids.js';
import { processState, signalProcess } from '../../state/process-identity.js';
import type { BottleStatus, StopReport } from '../types.js';

export function listBwrap(home: string): BottleStatus[] {
  const out: BottleStatus[] = [];
  for (const slug of knownSlugs(home)) {
    const read = readPids(pidsFile(slug, home));
    if (!read) continue;
    if ('problem' in read) {
      out.push({ slug, backend: 'bwrap', running: false, detail: read.problem });
      continue;
    }
    const sandbox = read.pids.sandbox;
    out.push({ slug, backend: 'bwrap', running: bottleRunning(read.pids), ...(sandbox ? { detail: `sandbox pid ${sandbox.pid}` } : {}) });
  }
  return out;
}

/** How long the owning CLI gets to tear down before `stop` ends the processes itself. */
const CLI_GRACE_MS = 15_000;
const DIRECT_GRACE_MS = 5_000;

/**
 * Stops a bottle from another process. The CLI that owns it is asked first
 * (SIGTERM): it kills the sandbox's pid namespace, stops the bundle, removes
 * the run folder and staging mounts, and exits as "stopped". If there is no
 * such CLI (it crashed) or it does not finish in time, the sandbox and the
 * bundle are ended directly. Every pid is identity-checked before a signal.
 */
export async function stopBwrap(slug: string, home: string): Promise<StopReport> {
  const read = readPids(pidsFile(slug, home));
  if (!read) return { wasRunning: false, notes: [], incomplete: false };
  if ('problem' in read) return { wasRunning: false, notes: [`${read.problem}: its processes are not signalled`], incomplete: true };
  const { pids } = read;
  const notes: string[] = [];
  const before = recordedStates(pids);
  for (const r of before) if (r.state === 'stale') notes.push(staleNote(r.role, r.id, slug));
  const wasRunning = before.some((r) => r.state === 'alive');
  if (!wasRunning) return { wasRunning, notes, incomplete: false };

  if (pids.cli && signalProcess(pids.cli, pids.boot, 'SIGTERM') === 'signalled') {
    await waitGone(pids, ['cli'], CLI_GRACE_MS);
  }
  // What is left: the CLI crashed or hangs. The sandbox's pid 1 takes its whole namespace with it.
  const direct: Array<[PidRole, NodeJS.Signals]> = [['init', 'SIGKILL'], ['sandbox', 'SIGKILL'], ['sidecars', 'SIGTERM']];
  for (const [role, signal] of direct) {
    const id = pids[role];
    if (id) signalProcess(id, pids.boot, signal);
  }
  const left = await waitGone(pids, ['init', 'sandbox', 'sidecars', 'cli'], DIRECT_GRACE_MS);
  for (const role of left) notes.push(`the ${ROLE_NAMES[role]} of ${slug} (pid ${pids[role]?.pid}) is still running`);
  return { wasRunning, notes, incomplete: left.length > 0 };
}

/** Waits (bounded) until none of `roles` is alive; returns those still alive. */
async function waitGone(pids: Pids, roles: PidRole[], limitMs: number): Promise<PidRole[]> {
  const until = Date.now() + limitMs;
  for (;;) {
    const alive = roles.filter((role) => {
      const id = pids[role];
      return id !== undefined && processState(id, pids.boot) === 'alive';
    });
    if (alive.length === 0 || Date.now() >= until) return alive;
    await new Promise((r) => setTimeout(r, 50));
  }
}
