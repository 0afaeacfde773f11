// Bundles each entry point into one ESM file so sidecar images and the bwrap
// backend need no node_modules at run time.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const banner = [
  '#!/usr/bin/env node',
  "import { createRequire as __bbCreateRequire } from 'node:module';",
  "import { fileURLToPath as __bbFileURLToPath } from 'node:url';",
  "import { dirname as __bbDirname } from 'node:path';",
  'const require = __bbCreateRequire(import.meta.url);',
  'const __filename = __bbFileURLToPath(import.meta.url);',
  'const __dirname = __bbDirname(__filename);',
].join('\n');

// `node scripts/build.mjs sidecars OUTDIR` builds only the sidecars bundle into OUTDIR
// (tests run the real bundle without touching dist/, which others may be using).
const [only, outdir = 'dist'] = process.argv.slice(2);
if (only === undefined) {
  rmSync('dist', { recursive: true, force: true });
  mkdirSync('dist', { recursive: true });
  writeFileSync('dist/devtools-stub.js', 'export default {};\n');
}
const common = {
  outdir,
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outExtension: { '.js': '.js' },
  banner: { js: banner },
  // ink imports react-devtools-core statically; it is never used at run time.
  alias: { 'react-devtools-core': './dist/devtools-stub.js' },
  sourcemap: 'linked',
  logLevel: 'warning',
};
// sidecars: the bundle the backends start for every bottle, built on its own so it shares no
// chunk with the CLI: it loads only the daemons its config names (each in its own chunk), and
// minified code parses and compiles faster at start-up.
// zod's core, classic and mini namespaces re-export every locale (`export * as locales`). Nothing
// reads those namespaces (json-file.ts imports the English locale file itself, classic zod its
// schemas.js), but the re-export makes esbuild place ~60 locales (~400 kB) in the chunk the bundle's
// daemons, and the CLI's every command, load at start-up.
const zodWithoutLocaleNamespaces = {
  name: 'zod-without-locale-namespaces',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/](core[\\/]index|mini[\\/]external|classic[\\/]external)\.js$/ }, async (args) => {
      const { readFile } = await import('node:fs/promises');
      const text = await readFile(args.path, 'utf8');
      const out = text.replace('export * as locales from "../locales/index.js";\n', '');
      if (out === text) throw new Error(`${args.path}: the locales re-export moved; update scripts/build.mjs`);
      return { contents: out, loader: 'js' };
    });
  },
};
// cli: the operator's command, in three files. dist/cli.js (src/cli/entry.ts) runs dist/cli.cjs, the whole
// program as one CommonJS file, through vm.Script with V8's code cache (dist/cli.cjs.v8, written by the training
// run at the end; one per node version and flag set): Node 20 caches no compiled ES modules, and parsing ~4 MB of code was ~40 ms of every launch.
// Commands still load their heavy parts (backends, MCP SDK, proxy) on use: esbuild keeps a dynamic import's
// module uninitialised until then. The supervise console (ink, whose modules use top-level await, which
// CommonJS cannot hold) is its own ES module, dist/console.js, which the program imports on use.
const consoleOutside = {
  name: 'console-outside',
  setup(b) {
    // A stand-in with the console module's one export, which imports dist/console.js through the function
    // dist/cli.js passes in (`__bbImport`): code V8 restores from its cache loses vm.Script's import() callback.
    b.onResolve({ filter: /[\\/]supervise[\\/]console[\\/]run\.js$/ }, () => ({ path: 'console', namespace: 'bb-console' }));
    b.onLoad({ filter: /.*/, namespace: 'bb-console' }, () => ({
      contents: "export const runConsole = (...args) => __bbImport('./console.js').then((m) => m.runConsole(...args));",
      loader: 'js',
    }));
  },
};
if (only === undefined) {
  await build({
    ...common,
    splitting: false,
    format: 'cjs',
    outExtension: { '.js': '.cjs' },
    banner: { js: 'const __bbImportMetaUrl = require(\'node:url\').pathToFileURL(__filename).href;' },
    define: { 'import.meta.url': '__bbImportMetaUrl' },
    plugins: [zodWithoutLocaleNamespaces, consoleOutside],
    entryPoints: { cli: 'src/cli/main.ts' },
  });
  await build({ ...common, splitting: false, plugins: [zodWithoutLocaleNamespaces], entryPoints: { console: 'src/supervise/console/run.ts' } });
  await build({ entryPoints: { cli: 'src/cli/entry.ts' }, outdir, bundle: true, platform: 'node', format: 'esm', target: 'node20', banner: { js: '#!/usr/bin/env node' }, logLevel: 'warning' });
}
await build({
  ...common,
  plugins: [zodWithoutLocaleNamespaces],
  entryPoints: { sidecars: 'src/sidecars/main.ts' },
  chunkNames: 'sidecars-chunks/[name]-[hash]',
  minify: process.env.BOT_BOTTLE_BUILD_MINIFY !== '0',
  keepNames: false,
});
// containment-probe: runs inside every bottle before the agent (src/containment). One file with no
// chunks, since backends copy just this file in; node built-ins only, minified so it parses fast.
if (only === undefined) {
  await build({
    entryPoints: { 'containment-probe': 'src/containment/probe-main.ts' },
    outdir,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    logLevel: 'warning',
  });
}
if (only === undefined) {
  chmodSync('dist/cli.js', 0o755);
  trainCodeCache();
}
chmodSync(`${outdir}/sidecars.js`, 0o755);

/**
 * The code cache's training run: one dry-run plan of an example bottle, whose exit writes dist/cli.cjs.<key>.v8
 * with every function it compiled (argument parsing, manifests, the plan). A launch compiles the rest on
 * first use. Skipped quietly if it fails: the CLI then writes the cache on its first run.
 */
function trainCodeCache() {
  const home = mkdtempSync(join(tmpdir(), 'bb-train-'));
  try {
    cpSync('examples/bottles', join(home, 'bottles'), { recursive: true });
    cpSync('examples/agents', join(home, 'agents'), { recursive: true });
    const r = spawnSync(process.execPath, [join(process.cwd(), 'dist', 'cli.js'), 'start', 'shell', '--headless', '--prompt', 'true', '--dry-run', '--backend', 'bwrap'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', BOT_BOTTLE_HOME: home, BOT_BOTTLE_PRESPAWN: '0' },
      cwd: home,
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (r.status !== 0 || !readdirSync('dist').some((f) => /^cli\.cjs\.[0-9a-f]{8}\.v8$/.test(f))) console.warn(`build: the code cache's training run failed (${r.status}): ${(r.stderr ?? '').slice(0, 500)}`);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
