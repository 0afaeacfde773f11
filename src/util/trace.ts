/**
 * BOT_BOTTLE_TRACE=1 prints launch phase timings to stderr (for `npm run bench:start` and debugging slow starts),
 * in ms since the process started (performance's time origin), so node's own start and the CLI's module loading count.
 */
const enabled = process.env.BOT_BOTTLE_TRACE === '1';

export function trace(phase: string): void {
  if (enabled) process.stderr.write(`[bot-bottle trace ${performance.now().toFixed(1)} ms] ${phase}\n`);
}

export function tracing(): boolean {
  return enabled;
}
