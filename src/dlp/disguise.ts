// Which chars can hide or disguise a token. The NFKC view (views.ts
// normalizeWithMap) drops INVISIBLE chars and folds every other code point
// with NFKC on its own, so a char can change what the view shows only if it is
// invisible or NFKC changes it. Exactly those are "suspect": the scan builds
// the view around them and nowhere else.

/** Zero-width and other invisible chars an agent can sprinkle into a token. */
// The class deliberately lists combining marks (variation selectors, CGJ) one by one.
// eslint-disable-next-line no-misleading-character-class
export const INVISIBLE = /[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\u{e0000}-\u{e0fff}]/gu;

/**
 * Lead surrogates of the supplementary-plane code points that are invisible
 * or that NFKC changes (modifier letters, musical symbols, mathematical and
 * Arabic mathematical alphanumerics, enclosed alphanumerics, segmented
 * digits, CJK compatibility ideographs, tags and variation selectors).
 * tests/dlp/disguise.test.ts checks this list against node's Unicode data.
 */
export const SUSPECT_LEADS: readonly number[] = [0xd801, 0xd833, 0xd834, 0xd835, 0xd838, 0xd83b, 0xd83c, 0xd83e, 0xd87e, 0xdb40, 0xdb41, 0xdb42, 0xdb43];

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
  // eslint-disable-next-line no-misleading-character-class -- the same class as INVISIBLE, without its global state
  const invisible = new RegExp(INVISIBLE.source, 'u');
  for (let c = 0x80; c < 0x10000; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    const ch = String.fromCharCode(c);
    if (invisible.test(ch) || ch.normalize('NFKC') !== ch) t[c] = 1;
  }
  for (const lead of SUSPECT_LEADS) t[lead] = 1;
  return (table = t);
}
