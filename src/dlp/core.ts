// The single pass over the text: word runs (token_patterns dispatch), runs of
// base64/hex chars (candidate spans for decoded views), the known-secrets gear
// hash, and positions of suspicious non-ASCII chars (for the NFKC view). One
// charCodeAt loop with a class table is what keeps the default detectors fast.
import { DlpBudgetError } from './api.js';
import { GEAR, type KnownHit, type KnownSecretIndex, slot } from './known.js';
import type { TokenHit, TokenMatcher } from './tokens.js';

const WORD = 1;
const B64 = 2;
const ALNUM = 8;
const CLS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  const alnum = /[A-Za-z0-9]/.test(ch);
  CLS[c] = (alnum || ch === '_' ? WORD : 0) | (alnum || '+/_-'.includes(ch) ? B64 : 0) | (alnum ? ALNUM : 0);
}

/**
 * Non-ASCII chars that can hide or disguise a token: invisible/zero-width and
 * format chars, and compatibility forms NFKC folds to ASCII (fullwidth,
 * mathematical alphanumerics, super/subscripts, circled letters). Ordinary
 * letters of other scripts are not suspicious and cost nothing.
 */
const SUSPECT = (() => {
  const t = new Uint8Array(65536);
  const ranges: [number, number][] = [
    [0xa0, 0xbf], [0x2b0, 0x2ff], [0x34f, 0x34f], [0x61c, 0x61c], [0x115f, 0x1160], [0x17b4, 0x17b5], [0x180b, 0x180f],
    [0x1d2c, 0x1dbf], [0x2000, 0x24ff], [0x3000, 0x3000], [0x3164, 0x3164], [0xfe00, 0xfe0f], [0xfe30, 0xfe6f], [0xfeff, 0xfeff],
    [0xff00, 0xffef], [0xd835, 0xd835], [0xdb40, 0xdb40], [0x1f100, 0x1f1ff],
  ];
  for (const [a, b] of ranges) for (let c = a; c <= Math.min(b, 0xffff); c++) t[c] = 1;
  t[0xd83c] = 1; // surrogate lead of enclosed alphanumerics (U+1F1xx)
  return t;
})();

/** Shortest run worth decoding: 16 base64 chars = 12 bytes, the known-secret window. */
export const MIN_ENCODED_RUN = 16;
const MAX_SUSPECT = 4096;
const BUDGET_STRIDE = 0x3ffff;

export interface CoreResult {
  tokens: TokenHit[];
  known: KnownHit[];
  /** Flat [start, end, start, end, ...] of runs of base64/hex chars ≥ MIN_ENCODED_RUN long. */
  encoded: number[];
  /** Positions of suspicious non-ASCII chars (capped); `suspectOverflow` when there were more. */
  suspect: number[];
  suspectOverflow: boolean;
}

export function coreScan(text: string, matcher: TokenMatcher | null, known: KnownSecretIndex | null, deadline: number): CoreResult {
  const tokens: TokenHit[] = [];
  const knownHits: KnownHit[] = [];
  const encoded: number[] = [];
  const suspect: number[] = [];
  let overflow = false;
  const dispatch = matcher ? matcher.dispatch : new Int32Array(128 * 128);
  const minRun = matcher ? matcher.bucketMinRun : [0];
  const bits = known ? known.bits : null;
  const n = text.length;
  let wStart = -1;
  let bStart = -1;
  let h = 0;
  /** Dispatch key of the current word run: first char << 7 | second char. */
  let key = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    let k = 0;
    if (c < 128) k = CLS[c]!;
    else if (SUSPECT[c] === 1) {
      if (suspect.length < MAX_SUSPECT) suspect.push(i);
      else overflow = true;
    }
    if ((k & WORD) !== 0) {
      if (wStart < 0) {
        wStart = i;
        key = c << 7;
      } else if (i === wStart + 1) key |= c;
    } else if (wStart >= 0) {
      const bucket = dispatch[key]!;
      if (bucket !== 0 && i - wStart >= minRun[bucket]!) matcher!.matchRun(text, bucket, wStart, i, tokens);
      wStart = -1;
    }
    if ((k & B64) !== 0) {
      if (bStart < 0) bStart = i;
    } else if (bStart >= 0) {
      if (i - bStart >= MIN_ENCODED_RUN) encoded.push(bStart, i);
      bStart = -1;
    }
    if (bits !== null && (k & ALNUM) !== 0) {
      h = ((h << 3) ^ GEAR[c]!) | 0;
      const s = slot(h);
      if ((bits[s >>> 5]! & (1 << (s & 31))) !== 0) known!.verify(text, i + 1, knownHits);
    }
    if ((i & BUDGET_STRIDE) === 0 && performance.now() > deadline) throw new DlpBudgetError('DLP scan exceeded its time budget');
  }
  if (wStart >= 0) {
    const bucket = dispatch[key]!;
    if (bucket !== 0 && n - wStart >= minRun[bucket]!) matcher!.matchRun(text, bucket, wStart, n, tokens);
  }
  if (bStart >= 0 && n - bStart >= MIN_ENCODED_RUN) encoded.push(bStart, n);
  return { tokens, known: knownHits, encoded, suspect, suspectOverflow: overflow };
}
