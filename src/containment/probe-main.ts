import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { observe } from './observe.js';
import type { ProbeSpec } from './spec.js';

/**
 * dist/containment-probe.js: read the spec (JSON) on stdin, observe, write the
 * report as one JSON line on stdout. Run inside the bottle, before the agent,
 * with no environment of its own. Imported (not run) by the escape suite,
 * which calls `observe` with its own spec.
 */
export { observe };

async function main(): Promise<void> {
  // Refused connections are the expected outcome here; their errors need no stack traces.
  Error.stackTraceLimit = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const spec = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ProbeSpec;
  const report = await observe(spec);
  process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
}

const entry = process.argv[1];
if (entry !== undefined && realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url))) {
  main().catch((err: unknown) => {
    process.stdout.write(`probe-error ${err instanceof Error ? err.message : String(err)}\n`, () => process.exit(1));
  });
}
