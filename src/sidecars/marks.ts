/**
 * Start-up milestones in ms since this process started, sent on the ready
 * line so `BOT_BOTTLE_TRACE=1` on the launcher shows where a bundle's start
 * goes (the bundle's own stderr is a log file the launcher removes).
 */
const marks: Record<string, number> = {};

export function mark(name: string): void {
  marks[name] ??= Math.round(performance.now());
}

export function startMarks(): Record<string, number> {
  return { ...marks };
}
