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

rmSync('dist', { recursive: true, force: true });
mkdirSync('dist', { recursive: true });
writeFileSync('dist/devtools-stub.js', 'export default {};\n');
await build({
  // cli: the operator's command; sidecars: the bundle the backends start (no CLI modules loaded).
  entryPoints: { cli: 'src/cli/main.ts', sidecars: 'src/sidecars/main.ts' },
  // Commands import their heavy parts (ink, MCP SDK, proxy) on use; splitting keeps those in chunks.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outExtension: { '.js': '.js' },
  banner: { js: banner },
  // ink imports react-devtools-core statically; it is never used at run time.
  alias: { 'react-devtools-core': './dist/devtools-stub.js' },
  sourcemap: 'linked',
  logLevel: 'warning',
});
chmodSync('dist/cli.js', 0o755);
chmodSync('dist/sidecars.js', 0o755);
