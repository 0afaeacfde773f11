// Which chars can hide or disguise a token. The NFKC view (views.ts
// normalizeWithMap) drops INVISIBLE chars and folds every other code point
// with NFKC on its own, so a char can change what the view shows only if it is
// invisible or NFKC changes it. Exactly those are "suspect": the scan builds
// the view around them and nowhere else.

import { INVISIBLE_RUNS, SUSPECT_BMP_RUNS, SUSPECT_LEADS } from './unicode-data.js';

export { SUSPECT_LEADS };

const u = (c: number): string => `\\u{${c.toString(16)}}`;

/**
 * Zero-width and other invisible chars an agent can sprinkle into a token:
 * Unicode's Default_Ignorable_Code_Point set (zero-width spaces and joiners,
 * bidi and format controls, variation selectors, fillers, tags), generated
 * from node's Unicode data (scripts/build-unicode.mjs), not kept by hand. Not
 * written as \p{Default_Ignorable_Code_Point}: compiling a property escape
 * pages in ~5 MB of ICU data per process.
 */
export const INVISIBLE = new RegExp(
  `[${Array.from({ length: INVISIBLE_RUNS.length / 2 }, (_, i) => `${u(INVISIBLE_RUNS[2 * i]!)}-${u(INVISIBLE_RUNS[2 * i + 1]!)}`).join('')}]`,
  'u',
);

let table: Uint8Array | undefined;

/**
 * 1 for each UTF-16 unit that is suspect: a BMP char that is invisible or
 * that NFKC changes, or a lead surrogate of a supplementary char that is.
 * Em dashes, curly quotes, arrows and the letters of other scripts are not:
 * NFKC leaves them as they are, so a view would show nothing new.
 * From the generated runs (tests/dlp/unicode-data.test.ts holds them to
 * node's Unicode data).
 */
export function suspectTable(): Uint8Array {
  if (table) return table;
  const t = new Uint8Array(65536);
  for (let i = 0; i < SUSPECT_BMP_RUNS.length; i += 2) t.fill(1, SUSPECT_BMP_RUNS[i], SUSPECT_BMP_RUNS[i + 1]! + 1);
  for (const lead of SUSPECT_LEADS) t[lead] = 1;
  return (table = t);
}
