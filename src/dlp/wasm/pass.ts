// AssemblyScript, compiled to WebAssembly by scripts/build-wasm.mjs (the output
// is committed as src/dlp/pass-wasm.ts; a test checks it matches this source).
// The DLP's per-char loop, sixteen bytes at a time with 128-bit SIMD: each
// block is classified by a handful of vector compares into bit masks (alnum,
// word, base64), and scalar work is spent only where a mask says so: once per
// word start, once per four alphanumeric chars (the known-secret probe), once
// per block for base64 runs. See core.ts for what each step means; the
// JavaScript side owns every table and reads the events this writes.
//
// Text is one byte per char: strings are narrowed by narrow() (every unit
// above 255 becomes 255, non-ASCII like the rest), request bodies are copied
// in as they are (latin1). Memory (imported, laid out by core.ts from the
// constants exported here):
//   B64      128 i8     base64 value per ASCII char (-1: not base64), url-safe chars included
//   SHUF     512 x 8 u8 swizzle masks that gather the bytes a mask byte selects (low half, high half)
//   STATE    8 i32      projection tail (i64), chars to the next probe, base64 run, flags, event count, trigger pair count
//   PAIRS    8 u16      two-char triggers (token infixes such as "://")
//   EVENTS   EVENT_CAP i32
//   BITS     32768 i32  known-secret bitset: two bits per gram of GRAM projected chars (known.ts gramSlots)
//   STARTING 65536 i32  word-start bitset of the token matcher, indexed by the first three chars' low 7 bits
//   ENDING   1024 i32   word-end bitset: the last three chars, five low bits each (core.ts endBits)
//   ENDING45 1024 x 2 u32 per hash of a word-end entry, the five low bits the fourth and fifth chars from the end may have
//   ENDNEXT  8 u32      chars that may follow a key name (`=`, `:`, quotes...) and that may follow the spaces after one (`=`, `:`, `?`, `|`)
//   PROJ     STRIDE+32  the alnum projection of the current call
//   HIST     64 u8      the bytes before the segment (spaces at a text's start)
//   TEXT     TEXT_UNITS u8 (+64 slack) the segment being scanned
//   WIDE     TEXT_UNITS u16  a string's UTF-16 units, before narrow()
//   SPLATS   32 v128    the loop's vector constants, written by setup(): V8 rebuilds an
//                       immediate v128 constant with three instructions at every use,
//                       and a load from here is one

export const B64: usize = 0;
export const SHUF: usize = 128;
export const STATE: usize = SHUF + 512 * 8;
export const PAIRS: usize = STATE + 32;
export const MAX_PAIRS: i32 = 8;
export const EVENTS: usize = PAIRS + 16;
export const EVENT_CAP: i32 = 32768;
export const BITS: usize = EVENTS + <usize>EVENT_CAP * 4;
export const STARTING: usize = BITS + 32768 * 4;
export const STARTING_WORDS: i32 = 65536;
export const ENDING: usize = STARTING + <usize>STARTING_WORDS * 4;
export const ENDING_WORDS: i32 = 1024;
export const ENDING45: usize = ENDING + <usize>ENDING_WORDS * 4;
export const ENDING45_WORDS: i32 = 2048;
export const ENDNEXT: usize = ENDING45 + <usize>ENDING45_WORDS * 4;
/**
 * A char raises at most a probe, a word start or end (each needs a non-word char beside it) and a
 * share of a run's two words, under 1.3 event words per char: a call stops after STRIDE chars and
 * EVENT_CAP = 2 × STRIDE never overflows.
 */
export const STRIDE: i32 = 16384;
export const PROJ: usize = ENDNEXT + 32;
export const HIST_BYTES: i32 = 64;
export const HIST: usize = PROJ + <usize>STRIDE + 32;
export const TEXT: usize = HIST + <usize>HIST_BYTES;
export const TEXT_UNITS: i32 = 131072;
export const WIDE: usize = TEXT + <usize>TEXT_UNITS + 64;
export const SPLATS: usize = WIDE + <usize>TEXT_UNITS * 2;
export const MEMORY_END: usize = SPLATS + 32 * 16;

/** Odd 64-bit multiplier of the projection hash (known.ts uses the same). */
const K: u64 = 0x9e3779b97f4a7c15;
/** Projected chars per probe (known.ts GRAM) and chars between probes (known.ts PROBE_STRIDE): 12 - 6 + 1. */
const GRAM: u64 = 6;
const PROBE_STRIDE: i32 = 7;
const FLAG_NON_ASCII: i32 = 1;
const FLAG_TRIGGER: i32 = 2;

/** WIDE[0, n) to TEXT[0, n): units above 255 saturate to 255. */
export function narrow(n: i32): void {
  const top = i16x8.splat(255);
  for (let k = 0; k < n; k += 16) {
    const a = i16x8.min_u(v128.load(WIDE + (<usize>k << 1)), top);
    const b = i16x8.min_u(v128.load(WIDE + (<usize>k << 1), 16), top);
    v128.store(TEXT + <usize>k, i8x16.narrow_i16x8_u(a, b));
  }
}

// SPLATS slots. A range test takes two: c - lo <u n  ⇔  (c + 128 - lo) as i8 <s n - 128.
const S_LOWER = 0;
const S_LETTER_ADD = 1;
const S_LETTER_TOP = 2;
const S_DIGIT_ADD = 3;
const S_DIGIT_TOP = 4;
const S_HEXLETTER_ADD = 5;
const S_HEXLETTER_TOP = 6;
const S_HEXLEAD_ADD = 7;
const S_HEXLEAD_TOP = 8;
const S_B64LEAD1_ADD = 9;
const S_B64LEAD1_TOP = 10;
const S_UNDER = 11;
const S_PLUS = 12;
const S_SLASH = 13;
const S_DASH = 14;
const S_PERCENT = 15;
const S_BACKSLASH = 16;
const S_X = 17;
const S_U = 18;
const S_FIRST0 = 19;
const S_SECOND0 = 20;
const S_FIRST1 = 21;
const S_SECOND1 = 22;
const S_UPPER_ADD = 23;
const S_UPPER_TOP = 24;
const S_NEXT_LO = 25;
const S_NEXT_HI = 26;
const S_LOW_NIBBLE = 27;

@inline function cst(slot: i32): v128 {
  return v128.load(SPLATS + (<usize>slot << 4));
}

function splat(slot: i32, byte: i32): void {
  v128.store(SPLATS + (<usize>slot << 4), i8x16.splat(<i8>byte));
}

function range(slot: i32, lo: i32, n: i32): void {
  splat(slot, 128 - lo);
  splat(slot + 1, n - 128);
}

/** Writes SPLATS; core.ts calls it once and whenever PAIRS changes. */
export function setup(): void {
  splat(S_LOWER, 32);
  range(S_LETTER_ADD, 97, 26);
  range(S_DIGIT_ADD, 48, 10);
  range(S_HEXLETTER_ADD, 97, 6);
  range(S_HEXLEAD_ADD, 50, 6);
  range(S_B64LEAD1_ADD, 73, 18);
  range(S_UPPER_ADD, 65, 26);
  // What may follow a key name (assignable()), classified by nibbles: a byte is in the set when the
  // bit its low nibble selects in NEXT_LO meets the one its high nibble selects in NEXT_HI.
  // Groups by high nibble: 1 = 0x0_ (\t \n \r), 2 = 0x2_ (space " '), 4 = 0x3_ (: = > ?), 8 = 0x5_ (\ ]), 16 = 0x6_ (`), 32 = 0x7_ (|).
  v128.store(SPLATS + (<usize>S_NEXT_LO << 4), i8x16(2 | 16, 0, 2, 0, 0, 0, 0, 2, 0, 1, 1 | 4, 0, 8 | 32, 1 | 4 | 8, 4, 4));
  v128.store(SPLATS + (<usize>S_NEXT_HI << 4), i8x16(1, 0, 2, 4, 0, 8, 16, 32, 0, 0, 0, 0, 0, 0, 0, 0));
  splat(S_LOW_NIBBLE, 15);
  splat(S_UNDER, 95);
  splat(S_PLUS, 43);
  splat(S_SLASH, 47);
  splat(S_DASH, 45);
  splat(S_PERCENT, 37);
  splat(S_BACKSLASH, 92);
  splat(S_X, 120);
  splat(S_U, 117);
  const pair0 = <i32>load<u16>(PAIRS);
  const pair1 = <i32>load<u16>(PAIRS, 2);
  splat(S_FIRST0, pair0 & 255);
  splat(S_SECOND0, pair0 >>> 8);
  splat(S_FIRST1, pair1 & 255);
  splat(S_SECOND1, pair1 >>> 8);
}

@inline function isWord(p: i32): i32 {
  const c = <i32>load<u8>(TEXT + <usize>p);
  const l = c | 32;
  return <i32>(<u32>(l - 97) < 26) | <i32>(<u32>(c - 48) < 10) | <i32>(c == 95);
}

/**
 * Emits the word start at p when its first three chars can begin a token (the
 * chars after it are in the text). Bytes index the table by their low 7 bits:
 * a non-ASCII byte is 255 in a narrowed string (127, a non-word char, like
 * every non-ASCII char), and any other one sets the non-ASCII flag, which
 * makes quietBytes ignore these events.
 */
@inline function startAt(p: i32, count: i32): i32 {
  const x = load<u32>(TEXT + <usize>p);
  const idx = ((x & 0x7f) << 14) | ((x >>> 1) & 0x3f80) | ((x >>> 16) & 0x7f);
  if (((load<u32>(STARTING + (<usize>(idx >>> 5) << 2)) >>> (idx & 31)) & 1) != 0) {
    store<i32>(EVENTS + (<usize>count << 2), (p << 2) | 2);
    return count + 1;
  }
  return count;
}

/**
 * Emits the word end at p (its last char) when its last three chars, five
 * low bits each (so case folds), are in the word-end table (4 KB: it stays in
 * L1) and the fourth and fifth from the end in the entry's sets (ENDING45):
 * the last subword of a key name that says it holds a secret (…PASSWORD,
 * api_key, authToken), or, read backwards, the first chars of a token written
 * in reverse. The chars before p may lie in HIST.
 */
@inline function endAt(p: i32, count: i32): i32 {
  // Bytes p-2..p, five low bits each, packed into 15 bits (p's in the top five).
  const y = (load<u32>(TEXT + <usize>(p - 3)) >>> 8) & 0x1f1f1f;
  const t = (y & 0x1f001f) | ((y >>> 3) & 0x3e0);
  const idx = (t & 0x3ff) | ((t >>> 6) & 0x7c00);
  if (((load<u32>(ENDING + (<usize>(idx >>> 5) << 2)) >>> (idx & 31)) & 1) != 0) {
    const e = ENDING45 + (<usize>((idx * 0x9e3779b1) >>> 22) << 3);
    if (((load<u32>(e) >>> (load<u8>(TEXT + <usize>(p - 3)) & 31)) & (load<u32>(e, 4) >>> (load<u8>(TEXT + <usize>(p - 4)) & 31)) & 1) != 0 && assignable(p)) {
      store<i32>(EVENTS + (<usize>count << 2), p << 2);
      return count + 1;
    }
  }
  return count;
}

/** Whether char c (a byte) is in the 128-bit set at ENDNEXT + off. */
@inline function inSet(off: usize, c: u32): bool {
  return c < 128 && ((load<u32>(ENDNEXT + off + (<usize>(c >>> 5) << 2)) >>> (c & 31)) & 1) != 0;
}

/**
 * What follows the word ending at p can make it a key name being assigned (a
 * quote, `=`, `:`, `]`, `>`, a line break...: the first set), or spaces and
 * then an operator or a quote (the second set) or, after a word that a dash precedes
 * (`--api-key value`, `-H X-Token: …`) or a password (netrc), any value. Most
 * uses of such a word (`token()`, `token.kind`, `the token is`) are not.
 * Reversed tokens end before a quote, a space or a line break as well.
 */
@inline function assignable(p: i32): bool {
  const c1 = <u32>load<u8>(TEXT + <usize>(p + 1));
  if (inSet(0, c1)) return true;
  if (c1 != 32 && c1 != 9) return false;
  let q = p + 2;
  while (q < p + 6 && (load<u8>(TEXT + <usize>q) == 32 || load<u8>(TEXT + <usize>q) == 9)) q++;
  const c2 = <u32>load<u8>(TEXT + <usize>q);
  if (inSet(16, c2)) return true;
  // A dash before the word run, or the run ends in "password"/"passwd" (netrc: `password value`).
  let s = p;
  while (s > p - 40 && isWord(s - 1)) s--;
  if (load<u8>(TEXT + <usize>(s - 1)) == 45) return true;
  const w = load<u64>(TEXT + <usize>(p - 7)) | 0x2020202020202020;
  return w == 0x64726f7773736170 || (w >>> 16) == 0x647773736170;
}

/**
 * Scans TEXT[from, to) (positions relative to the segment), stopping early
 * after STRIDE chars; returns where it stopped. `from` is 0 or where the last
 * call stopped, and the 64 bytes after `to` are spaces. Events are
 * (position << 2 | kind): 0 = a word run that may end a key name (or begin a
 * reversed token) ends at position (its last char), 1 = the GRAM projected (alnum) chars ending just
 * before position hit the known-secret bitset (probed at every
 * PROBE_STRIDE-th projected char), 2 = a word run that can begin a token starts at position
 * (reported once its third char is in range), 3 = a base64/hex run of 16+
 * chars ended at position (the next word is its length, with bit 30 set when
 * it passes looksEncoded). Positions may be negative at a segment start; the
 * reader shifts them arithmetically. The flags record a non-ASCII byte and a
 * trigger (see triggers()): the callers that skip the JavaScript
 * side when nothing was found need to know.
 */
export function pass(from: i32, to: i32): i32 {
  const stop = min(to, from + STRIDE);
  let due = load<i32>(STATE, 8);
  let run = load<i32>(STATE, 12);
  let flags = load<i32>(STATE, 16);
  let count = load<i32>(STATE, 20);
  const pairs = load<i32>(STATE, 24);
  // The projection of this call follows the last 8 projected chars of the text before it.
  store<u64>(PROJ, load<u64>(STATE));
  let pp: usize = PROJ + 8;
  // Word starts whose third char is the first or second in range (their block was before `from`).
  for (let p = from - 2; p < from; p++) {
    if (p + 2 < stop && isWord(p) && !isWord(p - 1)) count = startAt(p, count);
  }
  let prevWord = isWord(from - 1);
  // The word mask's last bit before this step (a word end needs a word char before it).
  let prevW: u64 = <u64>prevWord << 63;
  // 64 chars per step: four vectors make 64-bit masks, and each scalar loop
  // below (probes, word starts) runs once per 64 chars; its exit branch is the
  // one a CPU mispredicts, so fewer, longer loops are faster.
  for (let i = from; i < stop; i += 64) {
    const n = min(64, stop - i);
    const valid: u64 = n == 64 ? <u64>-1 : (<u64>1 << <u64>n) - 1;
    let A: u64 = 0;
    let NX: u64 = 0;
    let W: u64 = 0;
    let B: u64 = 0;
    // Non-ASCII bytes (high bit) and triggers (all bits), as one vector; the flags say which below.
    let odd = i8x16.splat(0);
    const base = pp;
    for (let k = 0; k < 64; k += 16) {
      const v = v128.load(TEXT + <usize>(i + k));
      const letter = i8x16.lt_s(i8x16.add(v128.or(v, cst(S_LOWER)), cst(S_LETTER_ADD)), cst(S_LETTER_TOP));
      const digit = i8x16.lt_s(i8x16.add(v, cst(S_DIGIT_ADD)), cst(S_DIGIT_TOP));
      const alnumV = v128.or(letter, digit);
      const wordV = v128.or(alnumV, i8x16.eq(v, cst(S_UNDER)));
      const b64V = v128.or(wordV, v128.or(i8x16.eq(v, cst(S_PLUS)), v128.or(i8x16.eq(v, cst(S_SLASH)), i8x16.eq(v, cst(S_DASH)))));
      odd = v128.or(odd, v128.or(v, triggers(v, v128.load(TEXT + <usize>(i + k), 1), pairs)));
      // The chars after `to` are spaces (the callers write them), so no mask bit is set past the end.
      const a = <u32>i8x16.bitmask(alnumV);
      A |= <u64>a << <u64>k;
      const cls = v128.and(i8x16.swizzle(cst(S_NEXT_LO), v128.and(v, cst(S_LOW_NIBBLE))), i8x16.swizzle(cst(S_NEXT_HI), i8x16.shr_u(v, 4)));
      NX |= <u64><u32>i8x16.bitmask(i8x16.ne(cls, i8x16.splat(0))) << <u64>k;
      W |= <u64><u32>i8x16.bitmask(wordV) << <u64>k;
      B |= <u64><u32>i8x16.bitmask(b64V) << <u64>k;
      // Gather the alnum bytes into the projection, eight mask bits at a time.
      const lo = a & 255;
      const hi = a >>> 8;
      store<u64>(pp, i64x2.extract_lane(i8x16.swizzle(v, v128.load64_zero(SHUF + (<usize>lo << 3))), 0));
      pp += <usize>popcnt(lo);
      store<u64>(pp, i64x2.extract_lane(i8x16.swizzle(v, v128.load64_zero(SHUF + 2048 + (<usize>hi << 3))), 0));
      pp += <usize>popcnt(hi);
    }
    W &= valid;
    B &= valid;
    if (i8x16.bitmask(odd) != 0) {
      // Recompute per kind, masked to the chars in range.
      for (let k = 0; k < 64; k += 16) {
        const m = <i32>(valid >> <u64>k) & 0xffff;
        const v = v128.load(TEXT + <usize>(i + k));
        flags |= select<i32>(FLAG_NON_ASCII, 0, (i8x16.bitmask(v) & m) != 0);
        const trig = triggers(v, v128.load(TEXT + <usize>(i + k), 1), pairs);
        flags |= select<i32>(FLAG_TRIGGER, 0, (i8x16.bitmask(trig) & m) != 0);
      }
    }

    // Probe the GRAM projected chars ending at each probe point reached in this step.
    const added = <i32>(pp - base);
    let o = due;
    for (; o <= added; o += PROBE_STRIDE) {
      const g = load<u64>(base + <usize>o - 8) >>> (64 - GRAM * 8);
      const h = g * K;
      const slot = <u32>(h >>> 44);
      if (((load<i32>(BITS + (<usize>(slot >>> 5) << 2)) >>> (slot & 31)) & 1) != 0 && bit(<u32>(h >>> 24) & 0xfffff)) {
        // The char ending the probe is the o-th alnum char of this step.
        let bits = A;
        for (let q = o - 1; q > 0; q--) bits &= bits - 1;
        store<i32>(EVENTS + (<usize>count << 2), ((i + <i32>ctz(bits) + 1) << 2) | 1);
        count++;
      }
    }
    due = o - added;

    // Word starts: a word char after a non-word char, reported when its third char is in range.
    let S = W & ~((W << 1) | <u64>prevWord);
    prevWord = <i32>(W >> <u64>(n - 1)) & 1;
    const lim = stop - i - 2;
    if (lim < 64) S &= lim > 0 ? (<u64>1 << <u64>lim) - 1 : 0;
    while (S != 0) {
      count = startAt(i + <i32>ctz(S), count);
      S &= S - 1;
    }
    // Word ends: a word char after another (`ks`: `sk-…` written backwards), followed (past the step
    // too) by a char that can follow a key name.
    const c = <u32>load<u8>(TEXT + <usize>(i + n));
    const next = (NX >> 1) | (<u64>(inSet(0, c) || c == 32 || c == 9) << <u64>(n - 1));
    let E = W & ((W << 1) | (prevW >> 63)) & next;
    prevW = W;
    while (E != 0) {
      count = endAt(i + <i32>ctz(E), count);
      E &= E - 1;
    }

    // Base64/hex runs of 16 or more: the one the step's first non-run char ends
    // (it may have begun steps ago), then any wholly inside the step.
    const z = ~B & valid;
    if (z == 0) {
      run += n;
    } else {
      const j0 = <i32>ctz(z);
      if (run + j0 >= 16) count = runEnd(i + j0, run + j0, count);
      // Bit j of X: chars j-15..j are all run chars.
      let X = B;
      X &= X << 1;
      X &= X << 2;
      X &= X << 4;
      X &= X << 8;
      let E = z & (X << 1) & (z - 1);
      while (E != 0) {
        const j = <i32>ctz(E);
        const prev = 63 - <i32>clz(z & ((<u64>1 << <u64>j) - 1));
        count = runEnd(i + j, j - prev - 1, count);
        E &= E - 1;
      }
      run = n - 1 - (63 - <i32>clz(z));
    }
  }
  store<u64>(STATE, load<u64>(pp - 8));
  store<i32>(STATE, due, 8);
  store<i32>(STATE, run, 12);
  store<i32>(STATE, flags, 16);
  store<i32>(STATE, count, 20);
  return stop;
}

/**
 * Chars a decoded view or a token infix starts from: `%` (URL escapes),
 * a backslash before x or u (the escapes views.ts decodes; JSON's \n and \"
 * are not), and the first two chars of each infix (PAIRS).
 */
@inline function triggers(v: v128, next: v128, pairs: i32): v128 {
  const escape = v128.and(i8x16.eq(v, cst(S_BACKSLASH)), v128.or(i8x16.eq(next, cst(S_X)), i8x16.eq(next, cst(S_U))));
  let trig = v128.or(i8x16.eq(v, cst(S_PERCENT)), escape);
  if (pairs != 0) {
    trig = v128.or(trig, v128.and(i8x16.eq(v, cst(S_FIRST0)), i8x16.eq(next, cst(S_SECOND0))));
    if (pairs > 1) trig = v128.or(trig, v128.and(i8x16.eq(v, cst(S_FIRST1)), i8x16.eq(next, cst(S_SECOND1))));
    for (let q = 2; q < pairs; q++) {
      const pr = <i32>load<u16>(PAIRS + (<usize>q << 1));
      trig = v128.or(trig, v128.and(i8x16.eq(v, i8x16.splat(<i8>(pr & 255))), i8x16.eq(next, i8x16.splat(<i8>(pr >>> 8)))));
    }
  }
  return trig;
}

/** Whether the known-secret bitset has `slot` (the second of a gram's two bits; known.ts gramSlots). */
@inline function bit(slot: u32): bool {
  return ((load<i32>(BITS + (<usize>(slot >>> 5) << 2)) >>> (slot & 31)) & 1) != 0;
}

/** Emits "a base64/hex run of `len` chars ended at `at`", whether it looks encoded and whether it may be compressed. */
function runEnd(at: i32, len: i32, count: i32): i32 {
  store<i32>(EVENTS + (<usize>count << 2), (at << 2) | 3);
  const looks = looksEncoded(at - len, at);
  store<i32>(EVENTS + (<usize>count << 2), len | (looks << 30) | (select<i32>(0, deflateLooks(at - len, at), looks) << 29), 4);
  return count + 2;
}

/**
 * 1 when the run TEXT[start, end) may be base64 of compressed text (gzip,
 * zlib or raw DEFLATE, none of which base64Looks accepts): 24+ chars with
 * upper and lower case and a digit among the first 32 and few underscores
 * (not a hex hash, a UUID or an identifier), and first bytes that can begin such a
 * stream: gzip's or zlib's header, or a DEFLATE block header that is not the
 * invalid type 3 or a stored block whose LEN is not ~NLEN (a PNG's). deflate.ts
 * looks further before anything is decompressed.
 */
export function deflateLooks(start: i32, end: i32): i32 {
  const len = end - start;
  if (len < 24) return 0;
  if (start < -HIST_BYTES) return 1;
  if (load<u32>(TEXT + <usize>start) == 0x49733448) return 1; // "H4sI": 1f 8b 08
  const want = len >= 32 ? -1 : (1 << len) - 1;
  let upper = 0;
  let lower = 0;
  let digit = 0;
  let under = 0;
  for (let k = 0; k < 32; k += 16) {
    const v = v128.load(TEXT + <usize>(start + k));
    upper |= inRange(v, S_UPPER_ADD) << k;
    lower |= inRange(v, S_LETTER_ADD) << k;
    digit |= inRange(v, S_DIGIT_ADD) << k;
    under |= i8x16.bitmask(i8x16.eq(v, cst(S_UNDER))) << k;
  }
  // Random base64: each class several times, a digit nearly always, `_` rarely (identifiers: many).
  if (popcnt(upper & want) < 3 || popcnt(lower & want) < 3 || (digit & want) == 0 || popcnt(under & want) > 2) return 0;
  // The first six bytes, from the first eight chars (run chars are all base64).
  let b: u64 = 0;
  for (let k = 0; k < 8; k++) b = (b << 6) | <u64>(<u8>load<i8>(B64 + <usize>load<u8>(TEXT + <usize>(start + k))) & 63);
  const b0 = <i32>(b >> 40) & 255;
  const b1 = <i32>(b >> 32) & 255;
  if ((b0 & 15) == 8 && ((b0 << 8) | b1) % 31 == 0) return 1; // zlib
  const type = (b0 >> 1) & 3;
  if (type == 3) return 0;
  if (type != 0) return 1;
  // A stored block: LEN and NLEN follow in bytes 1-4.
  const n = <i32>(b >> 24) & 0xffff;
  const nn = <i32>(b >> 8) & 0xffff;
  return <i32>((((n >> 8) | ((n & 255) << 8)) ^ ((nn >> 8) | ((nn & 255) << 8))) == 0xffff);
}

/** Groups whose lead char is checked; the same bound as views.ts (LEAD_GROUPS). */
const LEAD_GROUPS: i32 = 8;

/**
 * 1 when the run TEXT[start, end) (start may be up to HIST_BYTES before the
 * segment; a run that began even earlier is not checked: 1)
 * passes the cheap tests views.ts applies before decoding: hex whose first
 * bytes are printable ASCII (lead nibble 2-7), or base64 at one of four
 * alignments whose first groups lead with a value 8..31 (a printable byte).
 * Most runs (identifiers, UUIDs, hashes, random blobs) fail here, in the
 * module, instead of costing a view attempt in JavaScript.
 */
export function looksEncoded(start: i32, end: i32): i32 {
  if (start < -HIST_BYTES) return 1;
  return hexLooks(start, end) | base64Looks(start, end);
}

/** Bits of the chars in [lo, lo + n) of v (as bytes) for each of the 16 lanes. */
@inline function inRange(v: v128, slot: i32): i32 {
  return i8x16.bitmask(i8x16.lt_s(i8x16.add(v, cst(slot)), cst(slot + 1)));
}

/** Every char hex, and the first bytes' lead nibbles 2-7 (printable ASCII). */
@inline function hexLooks(start: i32, end: i32): i32 {
  const len = end - start;
  const first = <i32>load<u8>(TEXT + <usize>start);
  if ((len & 1) != 0 || first < 50 || first > 55) return 0;
  for (let p = start; p < end; p += 16) {
    const v = v128.load(TEXT + <usize>p);
    const hex = inRange(v, S_DIGIT_ADD) | inRange(v128.or(v, cst(S_LOWER)), S_HEXLETTER_ADD);
    const want = end - p >= 16 ? 0xffff : (1 << (end - p)) - 1;
    if ((hex & want) != want) return 0;
  }
  // Lead chars of the first LEAD_GROUPS bytes (even offsets below 16): '2'..'7'.
  const lead = inRange(v128.load(TEXT + <usize>start), S_HEXLEAD_ADD);
  const even = 0x5555 & (len >= 16 ? 0xffff : (1 << len) - 1);
  return <i32>((lead & even) == even);
}

/** The first chars of LEAD_GROUPS 4-char groups, at one of four alignments (one for runs over 4096 chars), have base64 values 8..31 (I-Z, a-f). */
@inline function base64Looks(start: i32, end: i32): i32 {
  const len = end - start;
  // Runs are 16+ chars, so every alignment has four groups in the first vector: most runs fail there.
  const v0 = v128.load(TEXT + <usize>start);
  const l0 = inRange(v0, S_B64LEAD1_ADD) | inRange(v0, S_HEXLETTER_ADD);
  if ((l0 & (l0 >>> 4) & (l0 >>> 8) & (l0 >>> 12) & 15) == 0) return 0;
  let lead: u64 = 0;
  for (let q = 0; q < 48; q += 16) {
    const v = v128.load(TEXT + <usize>(start + q));
    lead |= <u64>(inRange(v, S_B64LEAD1_ADD) | inRange(v, S_HEXLETTER_ADD)) << <u64>q;
  }
  const shifts = len <= 4096 ? 4 : 1;
  for (let s = 0; s < shifts; s++) {
    // Group leads at s, s+4, ... (LEAD_GROUPS of them, or fewer when the run ends first).
    const span = min(len - s, LEAD_GROUPS * 4);
    const need: u64 = 0x11111111 & ((<u64>1 << <u64>span) - 1);
    if (((lead >> <u64>s) & need) == need) return 1;
  }
  return 0;
}
