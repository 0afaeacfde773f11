// Which chars make the scanner build its NFKC view (src/dlp/disguise.ts):
// exactly those the view would change. Too few and a token disguised with
// them passes; too many and ordinary prose pays for views that show nothing.
import { describe, expect, it } from 'vitest';
import { coreScan } from '../../src/dlp/core.js';
import { createScanner } from '../../src/dlp/index.js';
import { normalizeWithMap } from '../../src/dlp/views.js';
import { INVISIBLE, SUSPECT_LEADS, suspectTable } from '../../src/dlp/disguise.js';
import { decodeUtf8 } from '../../src/dlp/utf8.js';
import { checksummed } from './fixtures.js';

// The definition, from the engine's own Unicode data (disguise.ts uses generated tables).
const DEFAULT_IGNORABLE = /\p{Default_Ignorable_Code_Point}/u;
const changedByView = (ch: string): boolean => DEFAULT_IGNORABLE.test(ch) || ch.normalize('NFKC') !== ch;

describe('suspect chars', () => {
  it('lists exactly the lead surrogates of supplementary chars the view changes (node Unicode data)', () => {
    const leads = new Set<number>();
    for (let c = 0x10000; c <= 0x10ffff; c++) {
      const ch = String.fromCodePoint(c);
      if (changedByView(ch)) leads.add(ch.charCodeAt(0));
    }
    expect([...leads].sort((a, b) => a - b)).toEqual(SUSPECT_LEADS);
  });

  it('marks exactly the BMP chars above ASCII the view changes (node Unicode data)', () => {
    const t = suspectTable();
    const wrong: string[] = [];
    for (let c = 0x80; c < 0x10000; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      if ((t[c] === 1) !== changedByView(String.fromCharCode(c))) wrong.push(c.toString(16));
    }
    for (let c = 0; c < 0x80; c++) if (t[c] !== 0) wrong.push(c.toString(16));
    expect(wrong).toEqual([]);
  });

  it('marks invisible and NFKC-folded chars, and not punctuation or letters NFKC keeps', () => {
    const t = suspectTable();
    for (const c of [0xa0, 0xad, 0x17f, 0x200b, 0x2060, 0x2026, 0xfb01, 0xff21, 0xfeff, 0x2460]) expect(t[c], c.toString(16)).toBe(1);
    for (const c of [0xe9, 0xa9, 0x416, 0x4e2d, 0x2014, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2192, 0xd83d]) expect(t[c], c.toString(16)).toBe(0);
  });

  it('builds no view for prose with dashes, quotes and accented letters', () => {
    const text = '\u201cCaf\u00e9\u201d \u2014 it\u2019s the r\u00e9sum\u00e9 \u2022 \u2192 next \u{1f600}';
    expect(coreScan(text, null, null, Infinity).suspect).toEqual([]);
  });
});

describe('the NFKC view', () => {
  it('is NFKC per code point with invisible chars dropped, and maps each char back, whatever the mix of chars', () => {
    // The per-code-point definition the fast path (runs of non-suspect chars copied whole) must match.
    const reference = (s: string): { text: string; map: number[] } => {
      let text = '';
      const map: number[] = [];
      for (let i = 0; i < s.length; ) {
        const ch = String.fromCodePoint(s.codePointAt(i)!);
        if (!INVISIBLE.test(ch)) {
          const n = ch.normalize('NFKC');
          text += n;
          for (let k = 0; k < n.length; k++) map.push(i);
        }
        i += ch.length;
      }
      map.push(s.length);
      return { text, map };
    };
    const alphabet = ['a', 'Z', '0', ' ', '\u00e9', '\u00a0', '\u2014', '\u200b', '\uff21', '\u3000', '\u65e5', '\ufb01', '\u{1f600}', '\u{1d400}', '\u{e0041}', '\ud800', '\udc00', '\u017f', '\u2460'];
    let seed = 11;
    const next = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    for (let round = 0; round < 300; round++) {
      const s = Array.from({ length: 1 + next(40) }, () => alphabet[next(alphabet.length)]!).join('');
      expect(normalizeWithMap(s), JSON.stringify(s)).toEqual(reference(s));
    }
  });
});

describe('suspects in UTF-8 bytes', () => {
  it('reports the runs whose decodeUtf8 holds a suspect char, for valid, invalid and cut-short sequences', () => {
    const t = suspectTable();
    const pieces = ['\u00e9', '\u00a0', '\u2014', '\u200b', '\u{1f600}', '\u{1fbf7}', '\u{1d400}', '\uff21', '\u4e2d'].map((c) => Buffer.from(c, 'utf8'));
    let seed = 7;
    const next = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    for (let round = 0; round < 400; round++) {
      const parts: Buffer[] = [];
      for (let k = 0; k < 12; k++) {
        // Mostly short runs (one char, a stray byte, a cut-short sequence) between ASCII.
        const r = next(6);
        if (r < 3) parts.push(Buffer.from(' a '));
        else if (r === 3) parts.push(Buffer.from([0x80 + next(128)]));
        else {
          const p = pieces[next(pieces.length)]!;
          parts.push(r === 4 ? p : p.subarray(0, 1 + next(p.length)));
        }
      }
      const text = Buffer.concat(parts).toString('latin1');
      const expected: number[] = [];
      for (const m of text.matchAll(/[\x80-\xff]+/g)) {
        const d = decodeUtf8(m[0]).text;
        if ([...Array(d.length).keys()].some((k) => t[d.charCodeAt(k)] === 1)) expected.push(m.index);
      }
      expect(coreScan(text, null, null, Infinity, false, undefined, true).suspect, JSON.stringify(text)).toEqual(expected);
    }
  });
});

describe('tokens disguised with chars NFKC folds to ASCII', () => {
  // Every fifth char disguised: no 12-char window of the secret is left as it is.
  const groups = ['kQ7x', 'Lm2P', 'Zt9R', 'Hw4Y', 'Vb8N'];
  const cases: [string, string, string][] = [
    ['long s (U+017F)', 's', '\u017f'],
    ['fi ligature (U+FB01)', 'fi', '\ufb01'],
    ['segmented digit (U+1FBF7)', '7', '\u{1fbf7}'],
    ['fullwidth (U+FF33)', 'S', '\uff33'],

  ];
  for (const [name, plain, disguised] of cases) {
    it(`finds a known secret written with ${name}, as text and as UTF-8 bytes`, () => {
      const secret = groups.join(plain);
      const text = `payload: ${groups.join(disguised)} end`;
      const s = createScanner({ detectors: ['known_secrets'], knownSecrets: [secret] });
      expect(s.scan(text).map((f) => f.rule)).toEqual(['known-secret']);
      const bytes = createScanner({ detectors: ['known_secrets'], knownSecrets: [secret], utf8Bytes: true });
      expect(bytes.scan(Buffer.from(text, 'utf8').toString('latin1')).map((f) => f.rule)).toEqual(['known-secret']);
    });
  }

  // Invisible chars (Default_Ignorable_Code_Point) that a hand-kept list had missed: the view drops them.
  // (A known secret would be found anyway: its windows skip separators. A token is one unbroken run.)
  for (const [name, ch] of [['a shorthand format control (U+1BCA0)', '\u{1bca0}'], ['a musical formatting char (U+1D173)', '\u{1d173}']]) {
    it(`finds a token with ${name} inside, as text and as UTF-8 bytes`, () => {
      const token = checksummed('gh' + 'p_');
      const text = `payload: ${token.slice(0, 12)}${ch}${token.slice(12)} end`;
      expect(createScanner({ detectors: ['token_patterns'] }).scan(text).map((f) => f.rule)).toEqual(['github-pat']);
      const bytes = createScanner({ detectors: ['token_patterns'], utf8Bytes: true });
      expect(bytes.scan(Buffer.from(text, 'utf8').toString('latin1')).map((f) => f.rule)).toEqual(['github-pat']);
    });
  }
});
