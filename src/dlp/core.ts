// The single pass over the text: word runs (token_patterns dispatch), runs of
// base64/hex chars (candidate spans for decoded views), the known-secrets gear
// hash, and positions of non-ASCII chars (for the NFKC view). One charCodeAt
// loop with a class table is what keeps the default detectors above 200 MB/s.
import { DlpBudgetError } from './api.js';
import { GEAR, type KnownHit, type KnownSecretIndex, slot } from './known.js';
import type { TokenHit, TokenMatcher } from './tokens.js';

const WORD = 1;
const B64 = 2;
const HEX = 4;
const ALNUM = 8;
const CLS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  const alnum = /[A-Za-z0-9]/.test(ch);
  CLS[c] = (alnum || ch === '_' ? WORD : 0) | (alnum || '+/_-'.includes(ch) ? B64 : 0) | (/[0-9a-fA-F]/.test(ch) ? HEX : 0) | (alnum ? ALNUM : 0);
}

/** Shortest run worth decoding: 16 base64 chars = 12 bytes, the known-secret window. */
export const MIN_ENCODED_RUN = 16;
const MAX_NON_ASCII = 4096;
const BUDGET_STRIDE = 0x3ffff;

export interface EncodedSpan {
  start: number;
  end: number;
  hex: boolean;
}

export interface CoreResult {
  tokens: TokenHit[];
  known: KnownHit[];
  encoded: EncodedSpan[];
  /** Positions of non-ASCII chars (capped); `nonAsciiOverflow` when there were more. */
  nonAscii: number[];
  nonAsciiOverflow: boolean;
}

export function coreScan(text: string, matcher: TokenMatcher | null, known: KnownSecretIndex | null, deadline: number): CoreResult {
  const tokens: TokenHit[] = [];
  const knownHits: KnownHit[] = [];
  const encoded: EncodedSpan[] = [];
  const nonAscii: number[] = [];
  let overflow = false;
  const dispatch = matcher?.dispatch;
  const bits = known?.bits;
  const n = text.length;
  let wStart = -1;
  let bStart = -1;
  let hexOnly = true;
  let h = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 32;
    let k = 0;
    if (c < 128) k = CLS[c] ?? 0;
    else if (nonAscii.length < MAX_NON_ASCII) nonAscii.push(i);
    else overflow = true;
    if ((k & WORD) !== 0) {
      if (wStart < 0) wStart = i;
    } else if (wStart >= 0) {
      if (dispatch) {
        const c1 = i - wStart > 1 ? text.charCodeAt(wStart + 1) : 0;
        const bucket = dispatch[(text.charCodeAt(wStart) << 7) | c1] ?? 0;
        if (bucket !== 0) matcher?.matchRun(text, bucket, wStart, i, tokens);
      }
      wStart = -1;
    }
    if ((k & B64) !== 0) {
      if (bStart < 0) bStart = i;
      if ((k & HEX) === 0) hexOnly = false;
    } else if (bStart >= 0) {
      if (i - bStart >= MIN_ENCODED_RUN) encoded.push({ start: bStart, end: i, hex: hexOnly && i - bStart >= 24 });
      bStart = -1;
      hexOnly = true;
    }
    if (bits && (k & ALNUM) !== 0) {
      h = ((h << 3) ^ (GEAR[c] ?? 0)) | 0;
      const s = slot(h);
      if (((bits[s >>> 5] ?? 0) & (1 << (s & 31))) !== 0) known?.verify(text, i + 1, knownHits);
    }
    if ((i & BUDGET_STRIDE) === 0 && i > 0 && performance.now() > deadline) throw new DlpBudgetError('DLP scan exceeded its time budget');
  }
  return { tokens, known: knownHits, encoded, nonAscii, nonAsciiOverflow: overflow };
}
