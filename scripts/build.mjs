// Bundles each entry point into one ESM file so sidecar images and the bwrap
// backend need no node_modules at run time.
import { build } from 'esbuild';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';

const banner = [
  '#!/usr/bin/env node',
  "import { createRequire as __bbCreateRequire } from 'node:module';",
  "import { fileURLToPath as __bbFileURLToPath } from 'node:url';",
  "import { dirname as __bbDirname } from 'node:path';",
  'const require = __bbCreateRequire(import.meta.url);',
  'const __filename = __bbFileURLToPath(import.meta.url);',
  'const __dirname = __bbDirname(__filename);',
].join('\n');

mkdirSync('dist', { recursive: true });
writeFileSync('dist/devtools-stub.js', 'export default {};\n');
await build({
  entryPoints: { cli: 'src/cli/main.ts' },
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
