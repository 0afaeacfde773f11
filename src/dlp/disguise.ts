// Which chars can hide or disguise a token. The NFKC view (views.ts
// normalizeWithMap) drops INVISIBLE chars and folds every other code point
// with NFKC on its own, so a char can change what the view shows only if it is
// invisible or NFKC changes it. Exactly those are "suspect": the scan builds
// the view around them and nowhere else.

/**
 * Zero-width and other invisible chars an agent can sprinkle into a token:
 * Unicode's Default_Ignorable_Code_Point set (zero-width spaces and joiners,
 * bidi and format controls, variation selectors, fillers, tags), from the
 * engine's own Unicode data rather than a hand-kept list.
 */
export const INVISIBLE = /\p{Default_Ignorable_Code_Point}/u;

/**
 * Lead surrogates of the supplementary-plane code points that are invisible
 * or that NFKC changes (modifier letters, musical symbols, mathematical and
 * Arabic mathematical alphanumerics, enclosed alphanumerics, segmented
 * digits, CJK compatibility ideographs, shorthand format controls, tags and
 * variation selectors).
 * tests/dlp/disguise.test.ts checks this list against node's Unicode data.
 */
export const SUSPECT_LEADS: readonly number[] = [0xd801, 0xd82f, 0xd833, 0xd834, 0xd835, 0xd838, 0xd83b, 0xd83c, 0xd83e, 0xd87e, 0xdb40, 0xdb41, 0xdb42, 0xdb43];

let table: Uint8Array | undefined;

/**
 * 1 for each UTF-16 unit that is suspect: a BMP char that is invisible or
 * that NFKC changes, or a lead surrogate from SUSPECT_LEADS. Em dashes, curly
 * quotes, arrows and the letters of other scripts are not: NFKC leaves them as
 * they are, so a view would show nothing new. Built on first use (~10 ms).
 */
export function suspectTable(): Uint8Array {
  if (table) return table;
  const t = new Uint8Array(65536);
  for (let c = 0x80; c < 0x10000; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    const ch = String.fromCharCode(c);
    if (INVISIBLE.test(ch) || ch.normalize('NFKC') !== ch) t[c] = 1;
  }
  for (const lead of SUSPECT_LEADS) t[lead] = 1;
  return (table = t);
}
