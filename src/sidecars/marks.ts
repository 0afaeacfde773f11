/**
 * Start-up milestones in ms since this process started, sent on the ready
 * line so `BOT_BOTTLE_TRACE=1` on the launcher shows where a bundle's start
 * goes (the bundle's own stderr is a log file the launcher removes).
 */
const marks: Record<string, number> = {};
/** 0, or when a standby bundle was claimed (sidecars/standby.ts): its marks count from then, its start is long past. */
let origin = 0;
/** util/cached-program.ts's CODE_CACHE (not imported: the loader's module stays out of the program). */
const CODE_CACHE = Symbol.for('bot-bottle.code-cache');

export function mark(name: string): void {
  marks[name] ??= Math.round(performance.now() - origin);
}

/** A standby bundle's marks start at its claim: what it did before (loading, warming) is no launch's wait. */
export function restartMarks(): void {
  origin = performance.now();
  for (const name of Object.keys(marks)) delete marks[name];
  mark('claimed (standby)');
}

export function startMarks(): Record<string, number> {
  // When the program began running, and whether V8 had its code cache (util/cached-program.ts).
  const started = (globalThis as Record<symbol, { state?: string; atMs?: number } | undefined>)[CODE_CACHE];
  const program = origin === 0 && started?.atMs !== undefined ? { [`program (code cache ${started.state ?? '?'})`]: started.atMs } : {};
  return { ...program, ...marks };
}
