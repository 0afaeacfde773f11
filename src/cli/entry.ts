import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vm from 'node:vm';
import { bundleSettings } from '../launch/bundle-secrets.js';
import { discardPrespawnedBundle, prespawnBundle } from '../launch/prespawn.js';
import { mayLaunchHostBundle } from './early-bundle.js';

/**
 * dist/cli.js, the `bot-bottle` command: runs the CLI's program (dist/cli.cjs,
 * one CommonJS file) through vm.Script with V8's code cache (dist/cli.cjs.<node and flags>.v8),
 * so a launch does not parse and compile ~4 MB of JavaScript again each time
 * (about 40 ms of the CLI's start on 2 cores, docs/performance.md). Node 20
 * has no compile cache for ES modules; a CommonJS script can take V8's cache.
 *
 * The cache lives beside the code and is written only there: by the build's
 * training run, or by the first run after node changed (V8 refuses a cache
 * from another V8 or other flags, and this then compiles as usual and writes a
 * new one if the folder is writable). Whoever can write it can write the code
 * beside it, so it trusts nothing the code itself does not.
 */
// First, before the program loads: the bundle's own start overlaps the CLI's (launch/prespawn.ts; the program
// finds it on the process-wide slot, and main.ts's own call is then a no-op).
if (mayLaunchHostBundle(process.argv.slice(2), process.env)) prespawnBundle(bundleSettings(process.env));
process.once('exit', discardPrespawnedBundle);

const dir = dirname(fileURLToPath(import.meta.url));
const file = join(dir, 'cli.cjs');
// One cache per node and flag set: V8 refuses a cache made under other flags, and one file would then be
// rewritten back and forth by runs with and without, say, NODE_OPTIONS.
const cacheFile = `${file}.${configKey()}.v8`;
const source = readFileSync(file, 'utf8');
let cachedData: Buffer | undefined;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  // None yet: compiled as usual, and written at exit (below).
}
// CommonJS's own wrapper, so the program sees require, module and __filename as under `require`.
// Plus `__bbImport`: the program's one ES module import (dist/console.js) goes through it, because a function V8
// restores from the cache has lost vm.Script's import() callback.
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname, __bbImport) {${source}\n})`, { filename: file, ...(cachedData ? { cachedData } : {}) });
const fresh = cachedData === undefined || script.cachedDataRejected === true;
if (fresh) process.once('exit', () => writeCache(script));
if (process.env.BOT_BOTTLE_TRACE === '1') {
  const state = cachedData === undefined ? 'none yet, written at exit' : fresh ? 'refused by V8, rewritten at exit' : 'used';
  process.stderr.write(`[bot-bottle trace ${performance.now().toFixed(1)} ms] code cache ${state} (${cacheFile})\n`);
}
const program = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string, load: (specifier: string) => Promise<unknown>) => void;
const module = { exports: {} };
const load = (specifier: string): Promise<unknown> => import(new URL(specifier, import.meta.url).href);
program.call(module.exports, module.exports, createRequire(file), module, file, dir, load);

/** FNV-1a of what V8's cache check depends on that this process can see. */
function configKey(): string {
  const text = [process.version, process.arch, ...process.execArgv, process.env.NODE_OPTIONS ?? ''].join('\0');
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** At exit, so the cache holds every function this run compiled (a launch's, a plan's). */
function writeCache(compiled: vm.Script): void {
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, compiled.createCachedData(), { mode: 0o644 });
    renameSync(tmp, cacheFile);
  } catch {
    // Not writable (an installed package owned by another user): every run compiles, as before.
    rmSync(tmp, { force: true });
  }
}
