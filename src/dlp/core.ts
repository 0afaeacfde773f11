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
// The loop itself is WebAssembly (wasm/pass.ts): the same loop in JavaScript
// paid a string-shape and a bounds check per char and per table load and ran at
// about half the speed. Text is copied into its memory a segment at a time, so
// the module's memory stays at about 1.2 MB whatever the text's size.
// Measured and rejected: letting V8's regex engine scan (a char-class or
// alternation regex is tried at every position, 3-4 ns/char for ONE of the
// three jobs; the loop does all three in about that).
import { DlpBudgetError } from './api.js';
import { GEAR, type KnownHit, type KnownSecretIndex, SLOT_SHIFT } from './known.js';
import { PASS_WASM_BASE64 } from './pass-wasm.js';
import { B64_VALUE } from './views.js';
import type { TokenHit, TokenMatcher } from './tokens.js';

const isWordChar = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isAlnumChar = (c: number): boolean => isWordChar(c) && c !== 95;
const isB64Char = (c: number): boolean => isWordChar(c) || c === 43 || c === 47 || c === 45;

// Tables cover every UTF-16 unit so the loop needs no `c < 128` test; non-ASCII
// units are non-word, non-alnum, non-base64 (all zero).
/** 6-bit code of a word char (1..63), 0 for everything else. */
const CODE = new Uint8Array(65536);
const CHAR_OF_CODE = new Uint8Array(64);
const ALNUM_BIT = 64;
const B64_BIT = 128;
/** One load per char in the loop: word code (bits 0-5) | ALNUM_BIT | B64_BIT. */
const PROPS = new Uint8Array(65536);
{
  let code = 0;
  for (let c = 0; c < 128; c++) {
    if (isWordChar(c)) {
      CODE[c] = ++code;
      CHAR_OF_CODE[code] = c;
    }
    PROPS[c] = CODE[c]! | (isAlnumChar(c) ? ALNUM_BIT : 0) | (isB64Char(c) ? B64_BIT : 0);
  }
}
/** Three 6-bit word codes: the start table's index. */
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

/**
 * Where a stream left the pass: its state after the last char, and the word
 * starts near the end whose match may have been cut short by the end.
 */
export interface PassCarry {
  h: number;
  st: number;
  run: number;
  /** Word-run starts (offsets into the scanned text); the stream dispatches those it still carries again once more text follows. */
  starts: number[];
  /** The pass saw a char that can disguise a token near the end: the next scan looks again. */
  suspect: boolean;
  /** The last known-secret hit, so windows in the next part extend it rather than start a new one. */
  lastKnown: KnownHit | undefined;
}

/** Continue a stream: `text` begins with `kept` chars the previous scan ended with (already passed). */
export interface Resume {
  kept: number;
  carry: PassCarry;
}

export interface CoreResult {
  tokens: TokenHit[];
  known: KnownHit[];
  /** Flat [start, end, start, end, ...] of runs of base64/hex chars ≥ MIN_ENCODED_RUN long. */
  encoded: number[];
  /** Positions of suspicious non-ASCII chars (capped); `suspectOverflow` when there were more. */
  suspect: number[];
  suspectOverflow: boolean;
  /** For the next scan of a stream: how the pass ended. Its `starts` are offsets into this text. */
  carry: PassCarry;
}

/**
 * Per matcher: 1 for each 18-bit "code(c0) code(c1) code(c2)" that can begin a
 * token: a word run whose first two chars key some anchor (c1 is code 0 for a
 * one-char run), whose third char (code 0: any non-word char or the end) an
 * anchor of that key allows, and whose length can reach the key's gate. A
 * superset of what dispatchRuns accepts, so it only prefilters; most word
 * starts ("co…", "us…", "ap…") stop here instead of becoming events.
 */
const startTables = new WeakMap<TokenMatcher, Uint8Array>();
const NON_WORD_CHARS = [...Array(128).keys()].filter((c) => CODE[c] === 0);

function startTable(matcher: TokenMatcher): Uint8Array {
  let t = startTables.get(matcher);
  if (t) return t;
  t = new Uint8Array(STATE_MASK + 1);
  for (let c0 = 1; c0 < 64; c0++) {
    for (let c1 = 0; c1 < 64; c1++) {
      const key = (CHAR_OF_CODE[c0]! << 7) | (c1 === 0 ? 0 : CHAR_OF_CODE[c1]!);
      const gate = matcher.keyGate[key] ?? 0;
      if (gate === 0 || (c1 === 0 && gate > 1)) continue;
      const bucket = matcher.dispatch[key]!;
      for (let c2 = 0; c2 < 64; c2++) {
        const ok =
          c1 === 0 ||
          (c2 !== 0 ? matcher.thirdAllowed(bucket, CHAR_OF_CODE[c2]!) : gate <= 2 && NON_WORD_CHARS.some((c) => matcher.thirdAllowed(bucket, c)));
        if (ok) t[(c0 << 12) | (c1 << 6) | c2] = 1;
      }
    }
  }
  startTables.set(matcher, t);
  return t;
}

interface PassModule {
  pass: (from: number, to: number) => number;
  text: Buffer;
  state: Int32Array;
  events: Int32Array;
  bits: Int32Array;
  starting: Uint8Array;
  textUnits: number;
  /** Which tables are in memory now: scans switch rarely (one matcher; known-secret sets per bottle). */
  loadedMatcher: TokenMatcher | null | undefined;
  loadedKnown: KnownSecretIndex | null | undefined;
}

let passModule: PassModule | undefined;

/** The slice of the WebAssembly JS API used here (TypeScript's ES libs do not declare it; Node has it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Memory: new (d: { initial: number }) => { buffer: ArrayBuffer; grow(pages: number): number };
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Instantiated on first use: commands that never scan never compile it. */
function loadPass(): PassModule {
  if (passModule) return passModule;
  // The typed-array views below share the module's little-endian memory.
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('the DLP scanner needs a little-endian host');
  const module = new wasmApi.Module(Buffer.from(PASS_WASM_BASE64, 'base64'));
  const memory = new wasmApi.Memory({ initial: 0 });
  const ex = new wasmApi.Instance(module, { env: { memory } }).exports;
  const at = (name: string): number => (ex[name] as { value: number }).value;
  memory.grow(Math.ceil(at('MEMORY_END') / 65536));
  const buf = memory.buffer;
  if (at('STRIDE') * 4 > at('EVENT_CAP')) throw new Error('core.ts: the event buffer cannot hold a full stride');
  const chars = new DataView(buf, at('CHARS'), 65536 * 8);
  for (let c = 0; c < 65536; c++) {
    chars.setUint32(8 * c, PROPS[c]!, true);
    chars.setInt32(8 * c + 4, (PROPS[c]! & ALNUM_BIT) !== 0 ? GEAR[c]! : 0, true);
  }
  new Int8Array(buf, at('B64'), 128).set(B64_VALUE);
  const textUnits = at('TEXT_UNITS');
  passModule = {
    pass: ex['pass'] as PassModule['pass'],
    text: Buffer.from(buf, at('TEXT'), textUnits * 2),
    state: new Int32Array(buf, at('STATE'), STATE_WORDS),
    events: new Int32Array(buf, at('EVENTS'), at('EVENT_CAP')),
    bits: new Int32Array(buf, at('BITS'), 1 << (32 - SLOT_SHIFT - 5)),
    starting: new Uint8Array(buf, at('STARTING'), STATE_MASK + 1),
    textUnits,
    loadedMatcher: undefined,
    loadedKnown: undefined,
  };
  return passModule;
}

/**
 * One pass over `text`. `allRuns`: report every base64/hex run (the entropy
 * detector wants them all); otherwise only runs that pass the module's
 * looks-encoded test, the only ones views.ts could decode. `resume`: the
 * text continues a stream, and its first `kept` chars were passed by the
 * previous scan; the pass picks up where it stopped instead of re-reading them.
 */
export function coreScan(text: string, matcher: TokenMatcher | null, known: KnownSecretIndex | null, deadline: number, allRuns = false, resume?: Resume): CoreResult {
  const tokens: TokenHit[] = [];
  const knownHits: KnownHit[] = [];
  const encoded: number[] = [];
  /** Word-run starts whose first two chars begin an anchor; gated and dispatched after the pass. */
  const starts: number[] = [];
  const starting = matcher ? startTable(matcher) : NO_STARTS;
  const m = loadPass();
  if (m.loadedMatcher !== matcher) {
    m.starting.set(starting);
    m.loadedMatcher = matcher;
  }
  if (m.loadedKnown !== known) {
    if (known) m.bits.set(known.bits);
    else m.bits.fill(0);
    m.loadedKnown = known;
  }
  const n = text.length;
  const state = m.state;
  state.fill(0);
  const first = resume ? Math.min(resume.kept, n) : 0;
  if (resume) {
    state[0] = resume.carry.h;
    state[1] = resume.carry.st;
    state[2] = resume.carry.run;
    state[3] = resume.carry.suspect ? 128 : 0;
    for (const p of resume.carry.starts) starts.push(p);
    if (resume.carry.lastKnown) knownHits.push({ ...resume.carry.lastKnown });
  }
  for (let seg = first; seg < n; seg += m.textUnits) {
    const len = Math.min(n - seg, m.textUnits);
    m.text.write(text.substring(seg, seg + len), 0, 'utf16le');
    for (let from = 0; from < len; ) {
      from = m.pass(from, len);
      flush(text, seg, m.events, state, known, knownHits, starts, encoded, allRuns);
    }
    if (performance.now() > deadline) throw new DlpBudgetError('DLP scan exceeded its time budget');
  }
  const h = state[0]!;
  const st = state[1]!;
  const run = state[2]!;
  const seen = state[3]!;
  // A run longer than a resumed text began before it: it is reported from the text's start.
  for (let i = 0; i < encoded.length; i += 2) if (encoded[i]! < 0) encoded[i] = 0;
  if (run >= MIN_ENCODED_RUN) encoded.push(Math.max(0, n - run), n);
  // Word runs of one or two chars at the very end: the end reads as non-word chars.
  for (let k = 1, s4 = st; k <= 2; k++) {
    s4 = (s4 << 6) & 0xffffff;
    if (s4 >>> 18 === 0 && starting[s4] !== 0) starts.push(n + k - 3);
  }
  if (matcher) dispatchRuns(text, matcher, starts, tokens, deadline);
  const { suspect, overflow } = seen > 127 ? suspects(text) : { suspect: [], overflow: false };
  // For a stream's next part: the stream keeps only the starts inside the window it carries
  // (stream.ts), and a disguising char this close to the end may have its view cut short.
  const lastSuspect = suspect[suspect.length - 1];
  const carry: PassCarry = { h, st, run, starts, suspect: overflow || (lastSuspect !== undefined && lastSuspect >= n - SUSPECT_CARRY), lastKnown: knownHits[knownHits.length - 1] };
  return { tokens, known: knownHits, encoded, suspect, suspectOverflow: overflow, carry };
}

/** How close to the end of a stream's part a disguising char makes the next part look for them again. */
const SUSPECT_CARRY = 4096;

/** Handles the events one pass() call wrote; positions are relative to the segment at `seg`. */
function flush(text: string, seg: number, events: Int32Array, state: Int32Array, known: KnownSecretIndex | null, knownHits: KnownHit[], starts: number[], encoded: number[], allRuns: boolean): void {
  const count = state[4]!;
  for (let e = 0; e < count; e++) {
    const ev = events[e]!;
    // Arithmetic shift: a word start one char before the segment is position -1.
    const at = (ev >> 2) + seg;
    const kind = ev & 3;
    if (kind === EV_PROBE) known!.verify(text, at, knownHits);
    else if (kind === EV_WORD) starts.push(at);
    else {
      const word = events[++e]!;
      if (allRuns || (word & LOOKS_ENCODED) !== 0) encoded.push(at - (word & ~LOOKS_ENCODED), at);
    }
  }
  state[4] = 0;
}

/** [gear hash, word-code state, base64 run length, OR of char codes, event count]. */
const STATE_WORDS = 5;
const EV_PROBE = 1;
const EV_WORD = 2;
/** Event kind 3 (a base64/hex run ended at the position) is followed by one more word: the run's length, | LOOKS_ENCODED. */
const LOOKS_ENCODED = 1 << 30;

const NO_STARTS = new Uint8Array(STATE_MASK + 1);
// wasm/pass.ts inlines the slot computation as `h >>> 12` and the run threshold as 16.
if (SLOT_SHIFT !== 12 || MIN_ENCODED_RUN !== 16) throw new Error('core.ts: wasm/pass.ts assumes SLOT_SHIFT 12 and MIN_ENCODED_RUN 16');

function dispatchRuns(text: string, matcher: TokenMatcher, starts: readonly number[], out: TokenHit[], deadline: number): void {
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
    const gate = matcher.keyGate[(c0 << 7) | (w1 ? c1 : 0)]!;
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
