import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleSettings } from '../launch/bundle-secrets.js';
import { discardPrespawnedBundle, prespawnBundle } from '../launch/prespawn.js';
import { runCachedProgram } from '../util/cached-program.js';
import { mayLaunchHostBundle } from './early-bundle.js';

/**
 * dist/cli.js, the `bot-bottle` command: runs the CLI's program (dist/cli.cjs)
 * with V8's code cache (util/cached-program.ts; ~40 ms of every start on 2
 * cores, docs/performance.md).
 */
// First, before the program loads: the bundle's own start overlaps the CLI's (launch/prespawn.ts; the program
// finds it on the process-wide slot, and main.ts's own call is then a no-op).
if (mayLaunchHostBundle(process.argv.slice(2), process.env)) prespawnBundle(bundleSettings(process.env));
process.once('exit', discardPrespawnedBundle);

const state = runCachedProgram(join(dirname(fileURLToPath(import.meta.url)), 'cli.cjs'), (specifier) => import(new URL(specifier, import.meta.url).href));
if (process.env.BOT_BOTTLE_TRACE === '1') process.stderr.write(`[bot-bottle trace ${performance.now().toFixed(1)} ms] code cache ${state}\n`);
