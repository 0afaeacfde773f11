/** BOT_BOTTLE_TRACE=1 prints launch phase timings to stderr (for `npm run bench:start` and debugging slow starts). */
const enabled = process.env.BOT_BOTTLE_TRACE === '1';
const start = performance.now();

export function trace(phase: string): void {
  if (enabled) process.stderr.write(`[bot-bottle trace ${(performance.now() - start).toFixed(1)} ms] ${phase}\n`);
}

export function tracing(): boolean {
  return enabled;
}
