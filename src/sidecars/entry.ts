import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCachedProgram } from '../util/cached-program.js';

/**
 * dist/sidecars.js, the sidecar bundle every backend starts: runs its program
 * (dist/sidecars.cjs, sidecars/main.ts) with V8's code cache
 * (util/cached-program.ts), so a bottle's bundle does not compile its modules
 * (egress, supervise, undici, the MCP SDK) again on every start.
 */
runCachedProgram(join(dirname(fileURLToPath(import.meta.url)), 'sidecars.cjs'), (specifier) => import(new URL(specifier, import.meta.url).href));
