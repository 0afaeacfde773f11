// Bundles each entry point so sidecar images and the bwrap backend need no node_modules at run time.
//
// The CLI and the sidecar bundle are each two files: a small ES module entry (dist/cli.js, dist/sidecars.js)
// that runs the program, built as one CommonJS file (dist/cli.cjs, dist/sidecars.cjs), through vm.Script with
// V8's code cache (src/util/cached-program.ts): Node 20 caches no compiled ES modules, and parsing and
// compiling megabytes of code was ~40 ms of every CLI start and as much of every bundle's. The training runs
// at the end write the caches (dist/*.cjs.<node+flags>.v8). A program still loads its heavy parts (backends,
// daemons, undici, the MCP SDK) on use: esbuild keeps a dynamic import's module uninitialised until then.
import { build } from 'esbuild';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const esmBanner = [
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
  platform: 'node',
  target: 'node20',
  // ink imports react-devtools-core statically; it is never used at run time.
  alias: { 'react-devtools-core': './dist/devtools-stub.js' },
  sourcemap: 'linked',
  logLevel: 'warning',
};
// A program: one CommonJS file. import.meta.url becomes the file's own URL (util/package-root.ts reads it).
const program = {
  ...common,
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  banner: { js: "const __bbImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  define: { 'import.meta.url': '__bbImportMetaUrl' },
};
// An entry: the ES module that runs a program with its code cache.
const entry = { ...common, format: 'esm', sourcemap: false, banner: { js: '#!/usr/bin/env node' } };

// zod's core, classic and mini namespaces re-export every locale (`export * as locales`). Nothing
// reads those namespaces (json-file.ts imports the English locale file itself, classic zod its
// schemas.js), but the re-export makes esbuild place ~60 locales (~400 kB) in the programs.
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
// The supervise console (ink, whose modules use top-level await, which CommonJS cannot hold) is its own ES
// module, dist/console.js. The program gets a stand-in with the console module's one export, which imports
// it through the function the entry passes in (`__bbImport`; code restored from V8's cache has lost
// vm.Script's import() callback).
const consoleOutside = {
  name: 'console-outside',
  setup(b) {
    b.onResolve({ filter: /[\\/]supervise[\\/]console[\\/]run\.js$/ }, () => ({ path: 'console', namespace: 'bb-console' }));
    b.onLoad({ filter: /.*/, namespace: 'bb-console' }, () => ({
      contents: "export const runConsole = (...args) => __bbImport('./console.js').then((m) => m.runConsole(...args));",
      loader: 'js',
    }));
  },
};

// cli: the operator's command.
if (only === undefined) {
  await build({ ...program, plugins: [zodWithoutLocaleNamespaces, consoleOutside], entryPoints: { cli: 'src/cli/main.ts' } });
  await build({ ...common, format: 'esm', banner: { js: esmBanner }, plugins: [zodWithoutLocaleNamespaces], entryPoints: { console: 'src/supervise/console/run.ts' } });
  await build({ ...entry, entryPoints: { cli: 'src/cli/entry.ts' } });
}
// sidecars: the bundle the backends start for every bottle, built on its own (it shares no code with the
// CLI's program) and minified: it parses and compiles faster when V8 has no cache for it.
await build({
  ...program,
  plugins: [zodWithoutLocaleNamespaces],
  entryPoints: { sidecars: 'src/sidecars/main.ts' },
  minify: process.env.BOT_BOTTLE_BUILD_MINIFY !== '0',
  keepNames: false,
});
await build({ ...entry, entryPoints: { sidecars: 'src/sidecars/entry.ts' } });
// containment-probe: runs inside every bottle before the agent (src/containment). One CommonJS file (node starts
// it without its ES module loader), since backends copy just this file in; node built-ins only, minified.
if (only === undefined) {
  await build({
    entryPoints: { 'containment-probe': 'src/containment/probe-main.ts' },
    outdir,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    outExtension: { '.js': '.cjs' },
    banner: program.banner,
    define: program.define,
    target: 'node20',
    minify: true,
    logLevel: 'warning',
  });
}
chmodSync(`${outdir}/sidecars.js`, 0o755);
if (only === undefined) {
  chmodSync('dist/cli.js', 0o755);
  trainCliCache();
  await trainBundleCache();
}

/** Cache files for `program` (dist/<program>.cjs.<key>.v8). */
function caches(dir, name) {
  return readdirSync(dir).filter((f) => f.startsWith(`${name}.cjs.`) && f.endsWith('.v8'));
}

/**
 * The CLI's training run: one dry-run plan of an example bottle, whose exit writes its cache with every
 * function it compiled (argument parsing, manifests, the plan); a launch compiles the rest on first use.
 * A failure only warns: the CLI then writes its cache on its first run.
 */
function trainCliCache() {
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
    if (r.status !== 0 || caches('dist', 'cli').length === 0) console.warn(`build: the CLI's code cache training failed (${r.status}): ${(r.stderr ?? '').slice(0, 500)}`);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/**
 * The bundle's training run, with the node flags every launcher gives it (the cache is per flag set): egress
 * and supervise on sockets in a temp folder, no routes, so nothing is reached; ready, then `warm` (undici,
 * the upstream trust store, the MCP SDK, DLP scanners), then SIGTERM, whose clean exit writes the cache.
 * Bounded; a failure only warns (the first bottle's bundle then writes it at its exit).
 */
async function trainBundleCache() {
  const dir = mkdtempSync(join(tmpdir(), 'bb-train-bundle-'));
  try {
    await build({ ...entry, banner: {}, entryPoints: { flags: 'src/sidecars/node-flags.ts' }, outdir: dir, outExtension: { '.js': '.mjs' } });
    const { BUNDLE_NODE_FLAGS } = await import(join(dir, 'flags.mjs'));
    const routesFile = join(dir, 'routes.json');
    writeFileSync(routesFile, '[]');
    mkdirSync(join(dir, 'queue'));
    const config = join(dir, 'sidecars.json');
    writeFileSync(
      config,
      JSON.stringify({
        bottle: 'training',
        egress: { listen: { socket: join(dir, 'egress.sock') }, routesFile, caCertOut: join(dir, 'ca.pem'), auditLog: join(dir, 'audit.jsonl') },
        supervise: { listen: { socket: join(dir, 'supervise.sock') }, queueDir: join(dir, 'queue'), routesFile, proposalTimeoutMs: 60_000, progressIntervalMs: 10_000, allowedHosts: ['localhost'] },
      }),
    );
    const child = spawn(process.execPath, [...BUNDLE_NODE_FLAGS, join(process.cwd(), 'dist', 'sidecars.js'), '--config', config, '--warm-on-stdin', '--exit-with-parent'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await new Promise((resolve) => {
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('"event":"ready"') && !out.includes('warm sent')) {
          out += 'warm sent';
          child.stdin.write('warm\n');
        }
        // The warm-ups run after `sidecars-warming`; give them time to finish loading what they load.
        if (out.includes('"event":"sidecars-warming"')) setTimeout(resolve, 1_500);
      });
      void exited.then(resolve);
    });
    child.kill('SIGTERM');
    await exited;
    clearTimeout(timer);
    if (caches('dist', 'sidecars').length === 0) console.warn(`build: the bundle's code cache training failed: ${(err || out).slice(0, 500)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
