// src/dlp/pass-wasm.ts is generated from src/dlp/wasm/pass.ts and committed so
// nothing needs a compile step at run time; this keeps the two from drifting.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('DLP WebAssembly module', () => {
  it('is the compile of the committed AssemblyScript source (run `node scripts/build-wasm.mjs` after editing it)', async () => {
    const { compile, OUTPUT } = await import('../../scripts/build-wasm.mjs');
    expect(readFileSync(OUTPUT, 'utf8')).toBe(await compile());
  });
});
