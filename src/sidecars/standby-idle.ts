/**
 * An unclaimed standby's idle time in seconds (BOT_BOTTLE_STANDBY_IDLE_S, or a docker standby's `--idle-s`):
 * 600 when unset or not a positive number, whole seconds (rounded up), at most a day. One reading for the host
 * standby, the docker standby's bundle and the CLI that writes its command line.
 */
export function standbyIdleSeconds(value: string | undefined): number {
  const s = Number(value ?? 600);
  return Number.isFinite(s) && s > 0 ? Math.min(Math.ceil(s), 86_400) : 600;
}
