// The bundle's tier-up filter names a WebAssembly function by index, in every module V8
// compiles. These pin what that index means in ours and in undici's HTTP parser.
import { createRequire } from 'node:module';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { exportedFunctionIndex, importedFunctionCount } from '../../scripts/wasm-sections.mjs';
import { PASS_FUNCTION_INDEX, PASS_WASM_BASE64 } from '../../src/dlp/pass-wasm.js';
import { BUNDLE_NODE_FLAGS } from '../../src/sidecars/node-flags.js';

const require = createRequire(import.meta.url);
/** undici's llhttp builds (SIMD and not) as the bytes it compiles; each file exports the module's bytes. */
const llhttp = ['undici/lib/llhttp/llhttp_simd-wasm.js', 'undici/lib/llhttp/llhttp-wasm.js'].map((m) => ({ m, bytes: require(m) as Buffer }));

describe('bundle node flags', () => {
  it('let V8 optimise exactly the DLP pass in our module', () => {
    const wasm = Buffer.from(PASS_WASM_BASE64, 'base64');
    expect(exportedFunctionIndex(wasm, 'pass')).toBe(PASS_FUNCTION_INDEX);
    expect(importedFunctionCount(wasm)).toBe(0);
    expect(BUNDLE_NODE_FLAGS).toContain(`--wasm-tier-up-filter=${PASS_FUNCTION_INDEX}`);
  });

  it("name an import in undici's llhttp, so none of its code is optimised (its TurboFan compile was the RSS peak)", () => {
    for (const { m, bytes } of llhttp) {
      expect(Buffer.isBuffer(bytes), m).toBe(true);
      expect(importedFunctionCount(bytes), m).toBeGreaterThan(PASS_FUNCTION_INDEX);
    }
  });

  it('keep the young generation at 1 MB semi-spaces (what --optimize-for-size implies) and set no semi-space flag it would override', async () => {
    expect(BUNDLE_NODE_FLAGS.some((f) => f.startsWith('--max-semi-space-size'))).toBe(false);
    // Enough short-lived garbage that V8 would grow a default young generation well past 2 MB.
    const script = `let a = []; for (let i = 0; i < 3e6; i++) { a.push({ i }); if (a.length > 5000) a = []; }
      const s = require('v8').getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
      process.stdout.write(String(s.space_size))`;
    const sizeWith = async (flags: readonly string[]): Promise<number> => Number((await execa('node', [...flags, '-e', script])).stdout);
    expect(await sizeWith(BUNDLE_NODE_FLAGS)).toBeLessThanOrEqual(2 * 1024 * 1024);
    expect(await sizeWith([])).toBeGreaterThan(2 * 1024 * 1024);
  });

  it('are accepted by this node', async () => {
    const r = await execa('node', [...BUNDLE_NODE_FLAGS, '-e', 'process.stdout.write("ok")'], { reject: false });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('ok');
  });
});
