// AssemblyScript, compiled to WebAssembly by scripts/build-wasm.mjs (the output
// is committed as src/dlp/pass-wasm.ts; a test checks it matches this source).
// The DLP's per-char loop, the one place where V8's JavaScript could not go
// faster: a JS loop pays a string-shape check and a bounds check per char and
// per table load, this one pays neither. See core.ts for what each step means;
// the JavaScript side owns every table and reads the events this writes.
//
// Memory (imported, laid out by core.ts from the constants exported here):
//   CHARS    65536 i64  per UTF-16 unit: word code (bits 0-5) | alnum (bit 6) |
//                       base64/hex (bit 7), and its gear value in bits 32-63
//                       (0 unless alnum); one load per char for both
//   STATE    5 i32      gear hash, last four word codes, base64 run length, OR of chars, event count
//   EVENTS   EVENT_CAP i32
//   BITS     32768 i32  known-secret bitset, indexed by the top 20 bits of the gear hash
//   STARTING 262144 u8  word-run start table of the token matcher
//   B64      128 i8     base64 value per ASCII char (-1: not base64), url-safe chars included
//   TEXT     TEXT_UNITS u16  the segment of text being scanned

export const CHARS: usize = 0;
export const STATE: usize = CHARS + 65536 * 8;
export const EVENTS: usize = STATE + 64;
export const EVENT_CAP: i32 = 16384;
export const BITS: usize = EVENTS + <usize>EVENT_CAP * 4;
export const STARTING: usize = BITS + 32768 * 4;
export const B64: usize = STARTING + 262144;
export const TEXT: usize = B64 + 128;
export const TEXT_UNITS: i32 = 131072;
export const MEMORY_END: usize = TEXT + <usize>TEXT_UNITS * 2;
/** A char raises at most 4 event words, so a call stops after STRIDE chars and the buffer never overflows. */
export const STRIDE: i32 = 4096;

/**
 * Scans TEXT[from, to) (positions relative to the segment), stopping early
 * after STRIDE chars; returns where it stopped. Events are
 * (position << 2 | kind): 1 = bitset hit ending before position, 2 = a word
 * run that can begin a token starts at position, 3 = a base64/hex run of
 * 16+ chars ended at position (the next word is its length, with bit 30 set
 * when it passes looksEncoded). Positions may be
 * negative at a segment start; the reader shifts them arithmetically.
 */
export function pass(from: i32, to: i32): i32 {
  let h = load<i32>(STATE);
  let st = load<i32>(STATE, 4);
  let run = load<i32>(STATE, 8);
  let seen = load<i32>(STATE, 12);
  let count = load<i32>(STATE, 16);
  let i = from;
  const stop = min(to, from + STRIDE);
  // scripts/build-wasm.mjs unrolls this loop 4 times (V8 does not unroll a body
  // this large; unrolled it measured 5-10 % faster). Keep the markers.
  for (; i < stop; i++) {
    // unroll-begin
    const c = <i32>load<u16>(TEXT + (<usize>i << 1));
    const e = load<i64>(CHARS + (<usize>c << 3));
    const p = <i32>e & 255;
    seen |= c;
    const alnum = (p >>> 6) & 1;
    // Non-alnum chars leave the hash unchanged: shift 0, gear value 0.
    h = (h << (alnum * 3)) ^ <i32>(e >>> 32);
    const slot = <u32>h >>> 12;
    if (((load<i32>(BITS + (<usize>(slot >>> 5) << 2)) >>> (slot & 31)) & alnum) != 0) {
      store<i32>(EVENTS + (<usize>count << 2), ((i + 1) << 2) | 1);
      count++;
    }
    // Four word codes: a non-word char, then the run's first three chars (or non-word codes 0).
    st = ((st << 6) | (p & 63)) & 0xffffff;
    // Branch-free test: whether a word started three chars ago flips every few chars.
    if ((<i32>load<u8>(STARTING + <usize>(st & 0x3ffff)) & <i32>(st < 0x40000)) != 0) {
      store<i32>(EVENTS + (<usize>count << 2), ((i - 2) << 2) | 2);
      count++;
    }
    const next = (run + 1) & -(p >>> 7);
    if ((<i32>(run >= 16) & <i32>(next == 0)) != 0) {
      store<i32>(EVENTS + (<usize>count << 2), (i << 2) | 3);
      store<i32>(EVENTS + (<usize>count << 2), run | (looksEncoded(i - run, i) << 30), 4);
      count += 2;
    }
    run = next;
    // unroll-end
  }
  store<i32>(STATE, h);
  store<i32>(STATE, st, 4);
  store<i32>(STATE, run, 8);
  store<i32>(STATE, seen, 12);
  store<i32>(STATE, count, 16);
  return i;
}

/** Groups whose lead char is checked; the same bound as views.ts (LEAD_GROUPS). */
const LEAD_GROUPS: i32 = 8;

/**
 * 1 when the run TEXT[start, end) (start may be before the segment: then only
 * its part in the segment is checked, which can only say yes more often)
 * passes the cheap tests views.ts applies before decoding: hex whose first
 * bytes are printable ASCII (lead nibble 2-7), or base64 at one of four
 * alignments whose first groups lead with a value 8..31 (a printable byte).
 * Most runs (identifiers, UUIDs, hashes, random blobs) fail here, in the
 * module, instead of costing a view attempt in JavaScript.
 */
@inline function looksEncoded(start: i32, end: i32): i32 {
  if (start < 0) return 1;
  return hexLooks(start, end) || base64Looks(start, end);
}

function hexLooks(start: i32, end: i32): i32 {
  if (((end - start) & 1) != 0) return 0;
  for (let p = start; p < end; p++) {
    const c = <i32>load<u16>(TEXT + (<usize>p << 1));
    const lower = c | 32;
    const hex = <i32>(c >= 48 && c <= 57) | <i32>(lower >= 97 && lower <= 102);
    if (!hex) return 0;
    if (((p - start) & 1) == 0 && p - start < 2 * LEAD_GROUPS && (c < 50 || c > 55)) return 0;
  }
  return 1;
}

function base64Looks(start: i32, end: i32): i32 {
  // views.ts tries four alignments only for runs up to 4096 chars.
  const shifts = end - start <= 4096 ? 4 : 1;
  for (let s = 0; s < shifts; s++) {
    let ok = 1;
    for (let g = 0, p = start + s; g < LEAD_GROUPS && p < end; g++, p += 4) {
      const v = <i32>load<i8>(B64 + <usize>(load<u16>(TEXT + (<usize>p << 1)) & 127));
      if (v < 8 || v > 31) {
        ok = 0;
        break;
      }
    }
    if (ok) return 1;
  }
  return 0;
}
