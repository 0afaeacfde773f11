import { realpathSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { observe } from './observe.js';
import type { ProbeSpecEarly, ProbeSpecLate } from './spec.js';

/**
 * dist/containment-probe.cjs: read the spec on stdin (two JSON lines, spec.ts),
 * observe, write the report as one JSON line on stdout. Run inside the bottle,
 * before the agent, with no environment of its own. Imported (not run) by the
 * escape suite, which calls `observe` with its own spec.
 */
export { observe };

async function main(): Promise<void> {
  // Refused connections are the expected outcome here; their errors need no stack traces.
  Error.stackTraceLimit = 0;
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const line = async (): Promise<string> => {
    const next = await lines.next();
    if (next.done === true) throw new Error('the spec ended early');
    return next.value;
  };
  const early = JSON.parse(await line()) as ProbeSpecEarly;
  const late = line().then((l) => JSON.parse(l) as ProbeSpecLate);
  void late.catch(() => undefined); // observed by `observe`; a failure before it waits must not crash the probe
  const report = await observe(early, late);
  process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
}

const entry = process.argv[1];
if (entry !== undefined && realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url))) {
  main().catch((err: unknown) => {
    process.stdout.write(`probe-error ${err instanceof Error ? err.message : String(err)}\n`, () => process.exit(1));
  });
}
