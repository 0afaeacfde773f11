// CPU time from /proc, for the egress bench and its load tool (both run on Linux).
import { readFileSync } from 'node:fs';

/** USER_HZ: /proc reports CPU time in these ticks per second. */
const CLOCK_TICKS = 100;

/** [user, system] CPU of a process so far, in ms (system: syscalls, i.e. mostly the loopback TCP stack); NaNs without a PID. */
export function userSysMsOf(pid: number | undefined): [number, number] {
  if (pid === undefined || !Number.isFinite(pid)) return [NaN, NaN];
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return [(Number(fields[11]) * 1000) / CLOCK_TICKS, (Number(fields[12]) * 1000) / CLOCK_TICKS];
}

/** Busy CPU time of the whole machine (ms, all cores; idle and iowait are not busy), from /proc/stat. */
export function machineBusyMs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return ((f.reduce((x, y) => x + y, 0) - f[3]! - f[4]!) * 1000) / CLOCK_TICKS;
}
