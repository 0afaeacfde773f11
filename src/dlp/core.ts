// The single pass over the text. Per char: one load from a packed class table,
// shifts and masks, and three rarely-taken branches; no per-char-class
// branching (word/non-word flips every few chars, and mispredicting that was
// most of the old loop's cost):
//  - known_secrets: a gear hash of the alphanumeric projection (non-alnum chars
//    leave it unchanged: zero shift, zero gear value) and one bitset probe;
//  - token_patterns: the last three chars as 6-bit word-char codes; a table says
//    whether "non-word, c0, c1" starts a word run some anchor can begin;
//  - decoded views: a branch-free length counter of the current base64/hex run;
//  - an OR of all char codes: only texts with non-ASCII chars get the second
//    pass that looks for chars that can hide or disguise a token (NFKC view).
// Candidate word runs are gated (length, third char) and dispatched after the pass.
// Measured and rejected: letting V8's regex engine scan (a char-class or
// alternation regex is tried at every position, 3-4 ns/char for ONE of the
// three jobs; this loop does all three in about that).
import { DlpBudgetError } from './api.js';
import { GEAR, type KnownHit, type KnownSecretIndex, SLOT_SHIFT } from './known.js';
import type { TokenHit, TokenMatcher } from './tokens.js';

const isWordChar = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isAlnumChar = (c: number): boolean => isWordChar(c) && c !== 95;
const isB64Char = (c: number): boolean => isWordChar(c) || c === 43 || c === 47 || c === 45;

// Tables cover every UTF-16 unit so the loop needs no `c < 128` test; non-ASCII
// units are non-word, non-alnum, non-base64 (all zero).
/** 6-bit code of a word char (1..63), 0 for everything else. */
const CODE = new Uint8Array(65536);
/** Gear value for alnum chars, 0 otherwise. */
const GEAR16 = new Int32Array(65536);
const CHAR_OF_CODE = new Uint8Array(64);
const ALNUM_BIT = 64;
const B64_BIT = 128;
/** One load per char in the hot loop: word code (bits 0-5) | ALNUM_BIT | B64_BIT. */
const PROPS = new Uint8Array(65536);
{
  let code = 0;
  for (let c = 0; c < 128; c++) {
    if (isWordChar(c)) {
      CODE[c] = ++code;
      CHAR_OF_CODE[code] = c;
    }
    if (isAlnumChar(c)) {
      GEAR16[c] = GEAR[c]!;
    }
    PROPS[c] = CODE[c]! | (isAlnumChar(c) ? ALNUM_BIT : 0) | (isB64Char(c) ? B64_BIT : 0);
  }
}
const STATE_MASK = 0x3ffff;

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
const BLOCK = 1 << 18;

export interface CoreResult {
  tokens: TokenHit[];
  known: KnownHit[];
  /** Flat [start, end, start, end, ...] of runs of base64/hex chars ≥ MIN_ENCODED_RUN long. */
  encoded: number[];
  /** Positions of suspicious non-ASCII chars (capped); `suspectOverflow` when there were more. */
  suspect: number[];
  suspectOverflow: boolean;
}

/**
 * Per matcher: for each 18-bit state "code(p2) code(p1) code(c)" with p2 a
 * non-word char (code 0), the shortest word run starting at p1 that some
 * anchor keyed (p1, c) can use; 0 when none. c is code 0 when the run has one char.
 */
const startTables = new WeakMap<TokenMatcher, Uint8Array>();

function startTable(matcher: TokenMatcher): Uint8Array {
  let t = startTables.get(matcher);
  if (t) return t;
  t = new Uint8Array(STATE_MASK + 1);
  for (let c0 = 1; c0 < 64; c0++) {
    for (let c1 = 0; c1 < 64; c1++) {
      const key = (CHAR_OF_CODE[c0]! << 7) | (c1 === 0 ? 0 : CHAR_OF_CODE[c1]!);
      const gate = matcher.keyGate[key] ?? 0;
      if (gate > 0) t[(c0 << 6) | c1] = Math.min(gate, 255);
    }
  }
  startTables.set(matcher, t);
  return t;
}

export function coreScan(text: string, matcher: TokenMatcher | null, known: KnownSecretIndex | null, deadline: number): CoreResult {
  const tokens: TokenHit[] = [];
  const knownHits: KnownHit[] = [];
  const encoded: number[] = [];
  /** Word-run starts whose first two chars begin an anchor; gated and dispatched after the pass. */
  const starts: number[] = [];
  const starting = matcher ? startTable(matcher) : NO_STARTS;
  const bits = known ? known.bits : NO_BITS;
  const n = text.length;
  const state = new Int32Array(STATE_WORDS);
  const events = EVENTS;
  for (let from = 0; from < n; ) {
    const to = Math.min(n, from + BLOCK);
    while (from < to) {
      from = pass(text, from, to, state, PROPS, GEAR16, bits, starting, events);
      flush(text, events, state, known, knownHits, starts, encoded);
    }
    if (performance.now() > deadline) throw new DlpBudgetError('DLP scan exceeded its time budget');
  }
  const st = state[1]!;
  const run = state[2]!;
  const seen = state[3]!;
  if (run >= MIN_ENCODED_RUN) encoded.push(n - run, n);
  // A one-char word run at the very end: its "next char" is the end of the text.
  if (starting[(st << 6) & STATE_MASK] !== 0) starts.push(n - 1);
  if (matcher) dispatchRuns(text, matcher, starts, starting, tokens, deadline);
  const { suspect, overflow } = seen > 127 ? suspects(text) : { suspect: [], overflow: false };
  return { tokens, known: knownHits, encoded, suspect, suspectOverflow: overflow };
}

/**
 * Handle the events one pass() call buffered. Its own function, like pass():
 * loops that V8 compiles by on-stack replacement in a function that runs only
 * once per scan were measured deoptimising on every scan.
 */
function flush(text: string, events: Int32Array, state: Int32Array, known: KnownSecretIndex | null, knownHits: KnownHit[], starts: number[], encoded: number[]): void {
  const count = state[4]!;
  for (let e = 0; e < count; e++) {
    const ev = events[e]!;
    const at = ev >>> 2;
    const kind = ev & 3;
    if (kind === EV_PROBE) known!.verify(text, at, knownHits);
    else if (kind === EV_WORD) starts.push(at);
    else encoded.push(at - events[++e]!, at);
  }
  state[4] = 0;
}

/** [gear hash, word-code state, base64 run length, OR of char codes, event count]. */
const STATE_WORDS = 5;
/** Events are (position << 2 | kind); positions fit: V8 strings are shorter than 2^29. */
const STRIDE = 4096;
const EVENT_CAP = 4 * STRIDE;
/** Shared: a scan is synchronous and coreScan never re-enters itself while the buffer holds events. */
const EVENTS = new Int32Array(EVENT_CAP);
const EV_PROBE = 1;
const EV_WORD = 2;
/** Event kind 3 (a base64/hex run ended at the position) is followed by one more word: the run's length. */

/**
 * The per-char loop over [from, to); returns where it stopped (early when the
 * event buffer is nearly full). Hash, state, run length and char-code OR are
 * carried in `state`. Rare events (bitset probe hit, anchor-like word start,
 * base64 run reaching 16 chars) are written to `events` and handled by the
 * caller: a call or array push inside the loop would make V8 reload every
 * table and constant on each iteration. Constants are literals for the same
 * reason (module bindings are context loads with hole checks). A function of
 * its own, called per block, so it is optimised whole rather than by OSR.
 */
function pass(text: string, from: number, to: number, state: Int32Array, props: Uint8Array, gear: Int32Array, bits: Int32Array, starting: Uint8Array, events: Int32Array): number {
  let h = state[0]!;
  let st = state[1]!;
  let run = state[2]!;
  let seen = state[3]!;
  let count = state[4]!;
  let i = from;
  // A char raises at most 4 event words, so STRIDE chars always fit the buffer (flush empties it between calls).
  const stop = Math.min(to, from + STRIDE);
  for (; i < stop; i++) {
    const c = text.charCodeAt(i);
    const p = props[c]!;
    seen |= c;
    // Alnum (bit 6): shift by 3 and mix in the char; anything else leaves h unchanged (gear value 0).
    h = (h << (((p >>> 6) & 1) * 3)) ^ gear[c]!;
    const s = h >>> 12; // SLOT_SHIFT
    if ((bits[s >>> 5]! & (1 << (s & 31))) !== 0 && (p & 64) !== 0) events[count++] = ((i + 1) << 2) | 1;
    st = ((st << 6) | (p & 63)) & 0x3ffff;
    if (starting[st] !== 0) events[count++] = ((i - 1) << 2) | 2;
    const next = (run + 1) & -(p >>> 7);
    // A run of ≥ 16 (MIN_ENCODED_RUN) base64/hex chars just ended at i: record its end and length.
    if (run >= 16 && next === 0) {
      events[count++] = (i << 2) | 3;
      events[count++] = run;
    }
    run = next;
  }
  state[0] = h;
  state[1] = st;
  state[2] = run;
  state[3] = seen;
  state[4] = count;
  return i;
}

const NO_STARTS = new Uint8Array(STATE_MASK + 1);
/** Bitset with nothing set: no known secrets means no probe ever hits, without a flag in the hot loop. */
const NO_BITS = new Int32Array(1 << (32 - SLOT_SHIFT - 5));
// pass() inlines the slot computation as `h >>> 12`.
if (SLOT_SHIFT !== 12) throw new Error('core.ts: pass() assumes SLOT_SHIFT 12');

function dispatchRuns(text: string, matcher: TokenMatcher, starts: readonly number[], starting: Uint8Array, out: TokenHit[], deadline: number): void {
  const n = text.length;
  for (let k = 0; k < starts.length; k++) {
    if ((k & 0x3ff) === 0 && performance.now() > deadline) throw new DlpBudgetError('DLP scan exceeded its time budget');
    const s = starts[k]!;
    const c0 = text.charCodeAt(s);
    const c1 = s + 1 < n ? text.charCodeAt(s + 1) : 0;
    const w1 = CODE[c1] !== 0;
    const bucket = matcher.dispatch[(c0 << 7) | (w1 ? c1 : 0)]!;
    // Cheapest reject first: most candidates ("co…", "us…", "ap…") fail on their third char.
    if (bucket === 0 || (w1 && !matcher.thirdAllowed(bucket, s + 2 < n ? text.charCodeAt(s + 2) : 0))) continue;
    const gate = starting[(CODE[c0]! << 6) | (w1 ? CODE[c1]! : 0)]!;
    let e = w1 ? s + 2 : s + 1;
    const limit = Math.min(n, s + gate);
    while (e < limit && CODE[text.charCodeAt(e)] !== 0) e++;
    if (e - s < gate) continue;
    while (e < n && CODE[text.charCodeAt(e)] !== 0) e++;
    matcher.matchRun(text, bucket, s, e, out);
  }
}

function suspects(text: string): { suspect: number[]; overflow: boolean } {
  const suspect: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (SUSPECT[text.charCodeAt(i)] === 1) {
      if (suspect.length === MAX_SUSPECT) return { suspect, overflow: true };
      suspect.push(i);
    }
  }
  return { suspect, overflow: false };
}
