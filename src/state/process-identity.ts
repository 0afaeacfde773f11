import { readFileSync } from 'node:fs';

/**
 * Who a recorded pid is. A pid only names whichever process holds the number
 * now: once a bottle's process ends the kernel hands the number to the next
 * one. So every process a bottle records is stored with its start time
 * (field 22 of /proc/PID/stat, clock ticks since boot) under the boot id, and
 * a signal goes only to a process whose boot and start time still match.
 *
 * Every signal to a pid read from state goes through `signalProcess`.
 * Children the CLI still holds a handle to are signalled through the handle
 * (node stops signalling once it has reaped the child). Node has no
 * pidfd_open, so checking and signalling are two steps; the pid would have to
 * be recycled in the microseconds between them.
 */
export interface ProcessIdentity {
  pid: number;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22). */
  start: number;
}

/** PID_MAX_LIMIT on 64-bit Linux: no pid is larger. */
export const MAX_PID = 4_194_304;

/** A pid that may be signalled at all: never 0, -1 or a negative group, never init. */
export function signallablePid(pid: number): boolean {
  return Number.isSafeInteger(pid) && pid > 1 && pid <= MAX_PID;
}

/**
 * State and start time from the text of /proc/PID/stat. The command name
 * (field 2) is in parentheses and may itself hold spaces and parentheses, so
 * fields are counted from the last ')'.
 */
export function parseProcStat(stat: string): { state: string; start: number } | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  // After ") " come field 3 (state), 4 (ppid), ... so field 22 is index 19.
  const fields = stat.slice(close + 2).split(' ');
  const state = fields[0];
  const start = fields[19];
  if (state === undefined || !/^[A-Za-z]$/.test(state) || start === undefined || !/^\d{1,18}$/.test(start)) return undefined;
  return { state, start: Number(start) };
}

let cachedBoot: string | undefined;

/** This boot's id: start times count from boot, so they only compare within one boot. */
export function bootId(): string {
  cachedBoot ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  return cachedBoot;
}

function readStat(pid: number): { state: string; start: number } | undefined {
  if (!signallablePid(pid)) return undefined;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const parsed = parseProcStat(text);
  // A zombie has ended; its pid is only waiting to be reaped.
  return parsed && parsed.state !== 'Z' && parsed.state !== 'X' ? parsed : undefined;
}

/** The identity of a live process, to record right after it starts. */
export function identify(pid: number): ProcessIdentity | undefined {
  const stat = readStat(pid);
  return stat ? { pid, start: stat.start } : undefined;
}

/**
 * `alive`: the recorded process still runs. `gone`: no live process has the
 * pid. `stale`: the pid now belongs to another process (or to another boot's).
 */
export type ProcessState = 'alive' | 'gone' | 'stale';

export function processState(recorded: ProcessIdentity, boot: string): ProcessState {
  const now = readStat(recorded.pid);
  if (!now) return 'gone';
  return boot === bootId() && now.start === recorded.start ? 'alive' : 'stale';
}

/** Signal the recorded process only if it is still that process; says what happened. */
export function signalProcess(recorded: ProcessIdentity, boot: string, signal: NodeJS.Signals): 'signalled' | 'gone' | 'stale' {
  const state = processState(recorded, boot);
  if (state !== 'alive') return state;
  try {
    process.kill(recorded.pid, signal);
    return 'signalled';
  } catch {
    // It ended between the check and the signal.
    return 'gone';
  }
}
