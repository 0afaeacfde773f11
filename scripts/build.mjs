// Bundles each entry point into one ESM file so sidecar images and the bwrap
// backend need no node_modules at run time.
import { build } from 'esbuild';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';

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
// cli: the operator's command. Commands import their heavy parts (ink, MCP SDK, proxy) on use;
// splitting keeps those in chunks.
if (only === undefined) await build({ ...common, plugins: [zodWithoutLocaleNamespaces], entryPoints: { cli: 'src/cli/main.ts' }, chunkNames: 'chunks/[name]-[hash]' });
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
if (only === undefined) chmodSync('dist/cli.js', 0o755);
chmodSync(`${outdir}/sidecars.js`, 0o755);
