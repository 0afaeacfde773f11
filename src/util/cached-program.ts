import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as vm from 'node:vm';

/** Where a program finds how `runCachedProgram` started it: `{ state: CacheState, atMs }`. */
export const CODE_CACHE = Symbol.for('bot-bottle.code-cache');

export type CacheState = 'used' | 'none yet, written at exit' | 'refused by V8, rewritten at exit';

/**
 * Runs a program built as one CommonJS file (dist/cli.cjs, dist/sidecars.cjs)
 * through vm.Script with V8's code cache beside it, so a start does not parse
 * and compile megabytes of JavaScript again each time. Node 20 has no compile
 * cache for ES modules; a CommonJS script can take V8's cache.
 *
 * The cache (`<file>.<node and flags>.v8`) is written beside the code only: by
 * the build's training runs, or at the exit of the next run when it is missing
 * or V8 refuses it (another V8 or other flags; that run compiles as usual).
 * Whoever can write it can write the code beside it, so it trusts nothing the
 * code does not. Not writable (an installed package owned by someone else):
 * every run compiles, as it would without this.
 *
 * `load` is the program's one way to import an ES module: a function V8
 * restores from the cache has lost vm.Script's import() callback, so the
 * program gets it as a parameter (`__bbImport`) instead.
 */
export function runCachedProgram(file: string, load: (specifier: string) => Promise<unknown>): CacheState {
  const cacheFile = `${file}.${configKey()}.v8`;
  const source = readFileSync(file, 'utf8');
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // None yet.
  }
  // CommonJS's own wrapper, so the program sees require, module and __filename as under `require`.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname, __bbImport) {${source}\n})`, { filename: file, ...(cachedData ? { cachedData } : {}) });
  const state: CacheState = cachedData === undefined ? 'none yet, written at exit' : script.cachedDataRejected === true ? 'refused by V8, rewritten at exit' : 'used';
  // At exit, so the cache holds every function this run compiled.
  if (state !== 'used') process.once('exit', () => writeCache(script, cacheFile));
  const program = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string, load: (specifier: string) => Promise<unknown>) => void;
  const module = { exports: {} };
  // For the program's own diagnostics (the bundle's start marks): how it was compiled, and when it began.
  (globalThis as Record<symbol, unknown>)[CODE_CACHE] = { state, atMs: Math.round(performance.now()) };
  program.call(module.exports, module.exports, createRequire(file), module, file, dirname(file), load);
  return state;
}

/**
 * FNV-1a of what V8's cache check depends on that this process can see: one
 * cache per node and flag set, so runs with and without (say) NODE_OPTIONS do
 * not rewrite each other's.
 */
function configKey(): string {
  const text = [process.version, process.arch, ...process.execArgv, process.env.NODE_OPTIONS ?? ''].join('\0');
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

function writeCache(compiled: vm.Script, cacheFile: string): void {
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, compiled.createCachedData(), { mode: 0o644 });
    renameSync(tmp, cacheFile);
  } catch {
    rmSync(tmp, { force: true });
  }
}
