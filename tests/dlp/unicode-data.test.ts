// src/dlp/unicode-data.ts is generated from node's Unicode data and committed, so no
// egress process pays for ICU's property tables at run time; this keeps it from drifting.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { INVISIBLE } from '../../src/dlp/disguise.js';

describe('generated Unicode data', () => {
  it("matches this node's Unicode data (run `node scripts/build-unicode.mjs` after a node upgrade)", async () => {
    const { generate, OUTPUT } = await import('../../scripts/build-unicode.mjs');
    expect(readFileSync(OUTPUT, 'utf8')).toBe(generate());
  });

  it('INVISIBLE is exactly \\p{Default_Ignorable_Code_Point}, on every code point', () => {
    const property = /\p{Default_Ignorable_Code_Point}/u;
    const differ: string[] = [];
    for (let c = 0; c <= 0x10ffff; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      const ch = String.fromCodePoint(c);
      if (INVISIBLE.test(ch) !== property.test(ch)) differ.push(c.toString(16));
    }
    expect(differ).toEqual([]);
  });
});
