/**
 * Start-up milestones in ms since this process started, sent on the ready
 * line so `BOT_BOTTLE_TRACE=1` on the launcher shows where a bundle's start
 * goes (the bundle's own stderr is a log file the launcher removes).
 */
const marks: Record<string, number> = {};
/** util/cached-program.ts's CODE_CACHE (not imported: the loader's module stays out of the program). */
const CODE_CACHE = Symbol.for('bot-bottle.code-cache');

export function mark(name: string): void {
  marks[name] ??= Math.round(performance.now());
}

export function startMarks(): Record<string, number> {
  // When the program began running, and whether V8 had its code cache (util/cached-program.ts).
  const started = (globalThis as Record<symbol, { state?: string; atMs?: number } | undefined>)[CODE_CACHE];
  const program = started?.atMs !== undefined ? { [`program (code cache ${started.state ?? '?'})`]: started.atMs } : {};
  return { ...program, ...marks };
}
