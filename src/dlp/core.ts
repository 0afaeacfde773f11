// The single pass over the text, sixteen chars at a time (WebAssembly SIMD,
// wasm/pass.ts). Each block becomes bit masks (alnum, word, base64) from a few
// vector compares; scalar work happens only where a mask says so:
//  - known_secrets: the alnum chars are gathered into a projection (non-alnum
//    chars dropped) and every fourth one probes a bitset with a hash of the
//    last eight (known.ts);
//  - token_patterns: each word start looks up its first three chars (6-bit
//    word codes); a table says whether they can begin a token;
//  - decoded views: a base64/hex run of 16+ chars can only end at a block's
//    first non-run char, so runs cost one step per block;
//  - non-ASCII chars and triggers (%, backslash, token infixes) set flags:
//    only texts with non-ASCII chars get the second pass that looks for chars
//    that can hide or disguise a token (NFKC view), and a stream's byte chunks
//    with no event and no flag skip the JavaScript side entirely (quietBytes).
// Candidate word runs are gated (length, third char) and dispatched after the pass.
// Text enters the module one byte per char (strings narrowed, bytes copied), a
// segment at a time, so the module's memory stays at about 1.5 MB whatever the
// text's size. Measured and rejected: letting V8's regex engine scan (3-4 ns
// per char for ONE of the three jobs); the scalar per-char loop this replaced
// (one table load and a hash step per char) ran at about a quarter of the speed.
import { DlpBudgetError } from './api.js';
import { GRAM, type KnownHit, type KnownSecretIndex, PROBE_STRIDE } from './known.js';
import { PASS_WASM_BASE64 } from './pass-wasm.js';
import { B64_VALUE } from './views.js';
import { suspectTable } from './disguise.js';
import { utf8Char } from './utf8.js';
import { keywordAt, keywordEndPatterns } from './keywords.js';
import { TokenMatcher as TokenMatcherClass, type TokenHit, type TokenMatcher } from './tokens.js';

const isWordChar = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;

/** 6-bit code of a word char (1..63), 0 for everything else (every byte ≥ 128 included). */
const CODE = new Uint8Array(256);
const CHAR_OF_CODE = new Uint8Array(64);
{
  let code = 0;
  for (let c = 0; c < 128; c++) {
    if (isWordChar(c)) {
      CODE[c] = ++code;
      CHAR_OF_CODE[code] = c;
    }
  }
}
const codeAt = (text: string, p: number): number => (p >= 0 && p < text.length ? (CODE[text.charCodeAt(p)] ?? 0) : 0);
/** Three 6-bit word codes: the start table's index. */
const STATE_MASK = 0x3ffff;

/** Shortest run worth decoding: 16 base64 chars = 12 bytes, the known-secret window. */
export const MIN_ENCODED_RUN = 16;
const MAX_SUSPECT = 4096;

/**
 * Where a stream left the pass: its state after the last char, and the word
 * starts and known-secret probes near the end that more text may complete.
 */
export interface PassCarry {
  /** The last 8 projected (alnum) chars, as the two halves of a little-endian u64. */
  tail: [number, number];
  /** Projected chars to go until the next known-secret probe (1..PROBE_STRIDE). */
  due: number;
  /** Length of the base64/hex run the text ended in. */
  run: number;
  /** Word-run starts (offsets into the scanned text); the stream dispatches those it still carries again once more text follows. */
  starts: number[];
  /** Word-run ends near the end (a key name whose value may still be arriving): looked at again once more text follows. */
  ends: number[];
  /** Probe hits (offsets) whose windows ran past the end: verified again once more text follows. */
  probes: number[];
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
  /** Flat [start, end, ...] of base64 runs that may hold compressed text (views.ts decompresses the plausible ones). */
  compressed: number[];
  /** Last chars of word runs that read backwards begin a token (views.ts reverses the run before each). */
  reversed: number[];
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

/**
 * The start table as the module reads it: one bit per first three chars'
 * low 7 bits (its bytes are ASCII, or 255 for any non-ASCII char: 127, a
 * non-word char like the rest).
 */
const startBitsCache = new WeakMap<TokenMatcher, Uint32Array>();
function startBits(matcher: TokenMatcher, table: Uint8Array): Uint32Array {
  let bits = startBitsCache.get(matcher);
  if (bits) return bits;
  bits = new Uint32Array(1 << 16);
  // Each (code, code, code) entry stands for its chars; code 0 for every non-word char.
  const one = [0];
  const charsOf = (code: number): readonly number[] => (code === 0 ? NON_WORD_CHARS : ((one[0] = CHAR_OF_CODE[code]!), one));
  for (let t = table.indexOf(1); t !== -1; t = table.indexOf(1, t + 1)) {
    const b0 = CHAR_OF_CODE[t >>> 12]!;
    for (const b1 of [...charsOf((t >>> 6) & 63)]) {
      for (const b2 of charsOf(t & 63)) {
        const idx = (b0 << 14) | (b1 << 7) | b2;
        bits[idx >>> 5]! |= 1 << (idx & 31);
      }
    }
  }
  // Two chars that begin a joinable anchor, then a char that glues fragments (`"gh" + "p_…"`).
  for (const p of matcher.joinPrefixes) {
    for (let g = 0; g < 128; g++) {
      if (TokenMatcherClass.JOIN_TRIGGER[g] !== 1) continue;
      const idx = (p.charCodeAt(0) << 14) | (p.charCodeAt(1) << 7) | g;
      bits[idx >>> 5]! |= 1 << (idx & 31);
    }
  }
  startBitsCache.set(matcher, bits);
  return bits;
}
const NO_START_BITS = new Uint32Array(1 << 16);

/**
 * The word-end tables (wasm/pass.ts endAt): a word run's last three chars,
 * read backwards, five low bits each (so case folds), and per entry (hashed
 * to 10 bits) the sets of the fourth and fifth chars from the end; a pattern
 * shorter than five leaves the rest open. They hold the ends of key names
 * that say "secret" (keywords.ts) and, read backwards, the first chars of
 * each distinctive anchor (a token written backwards ends with its prefix
 * reversed). A prefilter: the JavaScript side confirms every end it reports.
 */
const ALL_LOW5 = 0xffffffff;
const endBitsCache = new WeakMap<TokenMatcher, { bits: Uint32Array; rest: Uint32Array }>();
function endBits(matcher: TokenMatcher): { bits: Uint32Array; rest: Uint32Array } {
  const cached = endBitsCache.get(matcher);
  if (cached) return cached;
  const bits = new Uint32Array(1 << 10);
  const rest = new Uint32Array(1 << 11);
  const patterns = [...keywordEndPatterns(), ...matcher.reversedAnchors.map((a) => [...a.slice(0, 5)].map((ch) => ch.charCodeAt(0) & 31))];
  for (const pat of patterns) {
    if (pat.length < 3) throw new Error('core.ts: a word-end pattern needs three chars');
    const idx = (pat[0]! << 10) | (pat[1]! << 5) | pat[2]!;
    bits[idx >>> 5]! |= 1 << (idx & 31);
    const h = (Math.imul(idx, 0x9e3779b1) >>> 22) << 1;
    rest[h] = rest[h]! | (pat.length > 3 ? 1 << pat[3]! : ALL_LOW5);
    rest[h + 1] = rest[h + 1]! | (pat.length > 4 ? 1 << pat[4]! : ALL_LOW5);
  }
  const t = { bits, rest };
  endBitsCache.set(matcher, t);
  return t;
}
/**
 * wasm/pass.ts assignable(): the chars that may follow a key name (`=`, `:`,
 * quotes, `]`, `>`, a backslash, `?`, `|`, a line break; keywords.ts reads the
 * shape) and, after spaces, an operator (`=`, `:`, `?`, `|`) or a quote (`#define KEY "…"`).
 */
const END_NEXT = (() => {
  const t = new Uint32Array(8);
  const add = (word: number, chars: string): void => {
    for (const ch of chars) t[word + (ch.charCodeAt(0) >>> 5)]! |= 1 << (ch.charCodeAt(0) & 31);
  };
  add(0, '=:"\'`]>\\?|\n\r');
  add(4, '=:?|"\'');
  return t;
})();

const NO_END_BITS = { bits: new Uint32Array(1 << 10), rest: new Uint32Array(1 << 11) };

interface PassModule {
  pass: (from: number, to: number) => number;
  narrow: (n: number) => void;
  looksEncoded: (start: number, end: number) => number;
  deflateLooks: (start: number, end: number) => number;
  /** Rewrites the module's vector constants (after PAIRS changes). */
  setup: () => void;
  /** TEXT, one byte per char, and the TEXT_SLACK bytes after it (spaces after a segment: the pass reads whole vectors). */
  text: Buffer;
  /** The 16 bytes before TEXT: the chars before the segment. */
  hist: Buffer;
  /** WIDE: a string segment as UTF-16, narrowed into TEXT. */
  wide: Buffer;
  state: Int32Array;
  pairs: Uint16Array;
  events: Int32Array;
  bits: Int32Array;
  starting: Uint32Array;
  ending: Uint32Array;
  ending45: Uint32Array;
  endNext: Uint32Array;
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
  if (at('STRIDE') * 2 > at('EVENT_CAP')) throw new Error('core.ts: the event buffer cannot hold a full stride');
  new Int8Array(buf, at('B64'), 128).set(B64_VALUE);
  // Swizzle masks: for each byte mask, the indices of its set bits (in the low or the high half of a block), then 0xff (selects 0).
  const shuf = new Uint8Array(buf, at('SHUF'), 512 * 8);
  for (let half = 0; half < 2; half++) {
    for (let mask = 0; mask < 256; mask++) {
      const row = shuf.subarray((half * 256 + mask) * 8, (half * 256 + mask) * 8 + 8);
      row.fill(0xff);
      for (let bit = 0, k = 0; bit < 8; bit++) if ((mask >> bit) & 1) row[k++] = half * 8 + bit;
    }
  }
  const textUnits = at('TEXT_UNITS');
  passModule = {
    pass: ex['pass'] as PassModule['pass'],
    narrow: ex['narrow'] as PassModule['narrow'],
    looksEncoded: ex['looksEncoded'] as PassModule['looksEncoded'],
    deflateLooks: ex['deflateLooks'] as PassModule['deflateLooks'],
    setup: ex['setup'] as PassModule['setup'],
    text: Buffer.from(buf, at('TEXT'), textUnits + TEXT_SLACK),
    hist: Buffer.from(buf, at('HIST'), at('HIST_BYTES')),
    wide: Buffer.from(buf, at('WIDE'), textUnits * 2),
    state: new Int32Array(buf, at('STATE'), STATE_WORDS),
    pairs: new Uint16Array(buf, at('PAIRS'), at('MAX_PAIRS')),
    events: new Int32Array(buf, at('EVENTS'), at('EVENT_CAP')),
    bits: new Int32Array(buf, at('BITS'), 32768),
    starting: new Uint32Array(buf, at('STARTING'), at('STARTING_WORDS')),
    ending: new Uint32Array(buf, at('ENDING'), at('ENDING_WORDS')),
    ending45: new Uint32Array(buf, at('ENDING45'), at('ENDING45_WORDS')),
    endNext: new Uint32Array(buf, at('ENDNEXT'), 8),
    textUnits,
    loadedMatcher: undefined,
    loadedKnown: undefined,
  };
  passModule.setup();
  return passModule;
}

/** Puts the scan's tables in the module (when they differ from the last scan's) and its state from `carry`. */
function prepare(matcher: TokenMatcher | null, known: KnownSecretIndex | null, carry: PassCarry | undefined): { m: PassModule; starting: Uint8Array } {
  const m = loadPass();
  const starting = matcher ? startTable(matcher) : NO_STARTS;
  if (m.loadedMatcher !== matcher) {
    m.starting.set(matcher ? startBits(matcher, starting) : NO_START_BITS);
    const end = matcher ? endBits(matcher) : NO_END_BITS;
    m.ending.set(end.bits);
    m.ending45.set(end.rest);
    m.endNext.set(END_NEXT);
    const pairs = (matcher ? matcher.infixStrings() : []).map(triggerPair);
    if (pairs.length > m.pairs.length) throw new Error('core.ts: more token infixes than the module has trigger slots');
    pairs.forEach((p, k) => (m.pairs[k] = p));
    m.state[STATE_PAIRS] = pairs.length;
    m.setup();
    m.loadedMatcher = matcher;
  }
  if (m.loadedKnown !== known) {
    if (known) m.bits.set(known.bits);
    else m.bits.fill(0);
    m.loadedKnown = known;
  }
  const st = m.state;
  st[0] = carry ? carry.tail[0] : 0;
  st[1] = carry ? carry.tail[1] : 0;
  st[STATE_DUE] = carry ? carry.due : PROBE_STRIDE;
  st[STATE_RUN] = carry ? carry.run : 0;
  st[STATE_FLAGS] = carry?.suspect ? FLAG_NON_ASCII : 0;
  st[STATE_COUNT] = 0;
  return { m, starting };
}

/** The chars before `at` that fit in the module's history (one byte each; spaces before the text's start). */
function writeHistory(m: PassModule, text: string, at: number): void {
  const h = m.hist.length;
  for (let k = 1; k <= h; k++) m.hist[h - k] = at - k >= 0 ? Math.min(text.charCodeAt(at - k), 255) : 32;
}

/**
 * One pass over `text`. `allRuns`: report every base64/hex run (the entropy
 * detector wants them all); otherwise only runs that pass the module's
 * looks-encoded test, the only ones views.ts could decode. `resume`: the
 * text continues a stream, and its first `kept` chars were passed by the
 * previous scan; the pass picks up where it stopped instead of re-reading them.
 * `final`: no more text follows (a stream's part is not final: a value that
 * runs to its end may go on).
 */
export function coreScan(text: string, matcher: TokenMatcher | null, known: KnownSecretIndex | null, deadline: number, allRuns = false, resume?: Resume, utf8 = false, final = true): CoreResult {
  const tokens: TokenHit[] = [];
  const knownHits: KnownHit[] = [];
  const encoded: number[] = [];
  const compressed: number[] = [];
  /** Word-run starts whose first two chars begin an anchor; gated and dispatched after the pass. */
  const starts: number[] = [];
  const ends: number[] = [];
  const probes: number[] = [];
  const { m, starting } = prepare(matcher, known, resume?.carry);
  const n = text.length;
  const first = resume ? Math.min(resume.kept, n) : 0;
  if (resume) {
    for (const p of resume.carry.starts) starts.push(p);
    for (const p of resume.carry.ends) ends.push(p);
    if (resume.carry.lastKnown) knownHits.push({ ...resume.carry.lastKnown });
    for (const p of resume.carry.probes) if (known!.verify(text, p, knownHits)) probes.push(p);
  }
  for (let seg = first; seg < n; seg += m.textUnits) {
    const len = Math.min(n - seg, m.textUnits);
    m.wide.write(text.substring(seg, seg + len), 0, 'utf16le');
    m.narrow(len);
    m.text.fill(32, len, len + TEXT_SLACK);
    writeHistory(m, text, seg);
    for (let from = 0; from < len; ) {
      from = m.pass(from, len);
      flush(text, seg, m.events, m.state, known, knownHits, starts, ends, encoded, compressed, probes, allRuns);
    }
    if (performance.now() > deadline) throw new DlpBudgetError('DLP scan exceeded its time budget');
  }
  const st = m.state;
  const tail: [number, number] = [st[0]!, st[1]!];
  const due = st[STATE_DUE]!;
  const run = st[STATE_RUN]!;
  const nonAscii = (st[STATE_FLAGS]! & FLAG_NON_ASCII) !== 0;
  // A run longer than a resumed text began before it: it is reported from the text's start.
  for (let i = 0; i < encoded.length; i += 2) if (encoded[i]! < 0) encoded[i] = 0;
  if (run >= MIN_ENCODED_RUN) encoded.push(Math.max(0, n - run), n);
  const reversed: number[] = [];
  endStarts(text, starting, starts);
  if (matcher) tailEnds(text, matcher, 0, ends);
  if (matcher) dispatchEnds(text, matcher, ends, tokens, reversed, deadline, final);
  if (matcher) dispatchRuns(text, matcher, starts, tokens, deadline);
  const { suspect, overflow } = nonAscii ? (utf8 ? suspectsUtf8(text) : suspects(text)) : { suspect: [], overflow: false };
  // For a stream's next part: the stream keeps only the starts inside the window it carries
  // (stream.ts), and a disguising char this close to the end may have its view cut short.
  const lastSuspect = suspect[suspect.length - 1];
  const carry: PassCarry = { tail, due, run, starts, ends: ends.filter((p) => p >= n - END_CARRY), probes, suspect: overflow || (lastSuspect !== undefined && lastSuspect >= n - SUSPECT_CARRY), lastKnown: knownHits[knownHits.length - 1] };
  return { tokens, known: knownHits, encoded, compressed, reversed, suspect, suspectOverflow: overflow, carry };
}

/** Word runs of one or two chars at the very end (the pass reports a start once its third char is in): the end reads as non-word chars. */
function endStarts(text: string, starting: Uint8Array, starts: number[]): void {
  const n = text.length;
  let s4 = (codeAt(text, n - 4) << 18) | (codeAt(text, n - 3) << 12) | (codeAt(text, n - 2) << 6) | codeAt(text, n - 1);
  for (let k = 1; k <= 2; k++) {
    s4 = (s4 << 6) & 0xffffff;
    if (s4 >>> 18 === 0 && starting[s4] !== 0) starts.push(n + k - 3);
  }
}

/**
 * What a decoded view or a token infix starts from (wasm/pass.ts triggers()):
 * `%`, the escapes views.ts decodes (backslash-x, backslash-u), and each
 * infix's first two chars. quietBytes leaves chunks holding one to the full
 * scan, and a stream whose carried text holds one scans its next chunk in full.
 */
const ESCAPES = ['\\x', '\\u'];
const ESCAPE_PAIRS = ESCAPES.map(triggerPair);

/** The first two chars of a trigger as (c0 | c1 << 8). */
function triggerPair(t: string): number {
  if (t.length < 2 || t.charCodeAt(0) > 255 || t.charCodeAt(1) > 255) throw new Error(`trigger "${t}" must be at least two latin1 chars`);
  return t.charCodeAt(0) | (t.charCodeAt(1) << 8);
}

/** Whether `text` holds a trigger (the infixes of `matcher` included). */
export function holdsTrigger(text: string, matcher: TokenMatcher | null): boolean {
  return text.includes('%') || ESCAPES.some((t) => text.includes(t)) || (matcher !== null && matcher.infixStrings().some((t) => text.includes(t)));
}

/** Text a stream carries: a string, or the tail of the last chunk while no string was needed. */
export type Carried = string | Buffer;
/** A carried text, or a part of it, as a string (bytes one char each). */
export const latin1 = (t: Carried, from = 0, to = t.length): string => (typeof t === 'string' ? t.slice(from, to) : t.toString('latin1', from, to));

/**
 * A stream's next bytes (latin1; `chunks` in order), when they hold nothing
 * that needs the rest of the scan: runs the pass over them alone and returns
 * the carry for the next part, or undefined when they have a decodable run, a
 * char the NFKC view would change (the bytes read as UTF-8 when `utf8`), a
 * trigger (%, a \\x or \\u escape, a token infix), a token or a
 * known-secret window: the caller then scans `before + chunks` as text,
 * exactly as if this had not been called. Word starts and bitset hits (mostly
 * hash collisions) are looked at here, on a string built only when some pass
 * the cheap tests. `before` is the text the stream carries (it ends where the
 * chunks begin).
 */
export function quietBytes(chunks: readonly Buffer[], before: Carried, matcher: TokenMatcher | null, known: KnownSecretIndex | null, carry: PassCarry | undefined, deadline: number, utf8 = false): PassCarry | undefined {
  if (carry?.suspect || (known && known.whole.length > 0)) return undefined;
  const { m, starting } = prepare(matcher, known, carry);
  let n = 0;
  for (const c of chunks) n += c.length;
  const off = before.length;
  // A trigger pair split between the carried text and the chunks.
  if (off > 0 && n > 0) {
    const first = chunks.find((c) => c.length > 0)!;
    const pair = Math.min(latin1(before, off - 1).charCodeAt(0), 255) | (first[0]! << 8);
    if (ESCAPE_PAIRS.includes(pair)) return undefined;
    for (let k = 0; k < m.state[STATE_PAIRS]!; k++) if (m.pairs[k] === pair) return undefined;
  }
  const probes: number[] = [];
  const starts = carry ? [...carry.starts] : [];
  const ends = carry ? [...carry.ends] : [];
  if (off > 0) {
    if (typeof before === 'string') writeHistory(m, before, off);
    else {
      const h = Math.min(off, m.hist.length);
      m.hist.fill(32, 0, m.hist.length - h);
      before.copy(m.hist, m.hist.length - h, off - h, off);
    }
  } else m.hist.fill(32);
  let ci = 0;
  let cOff = 0;
  let len = 0;
  for (let seg = 0; seg < n; seg += len) {
    if (seg > 0) m.text.copy(m.hist, 0, len - m.hist.length, len);
    // Fill the segment from the chunks.
    len = 0;
    while (len < m.textUnits && ci < chunks.length) {
      const c = chunks[ci]!;
      const k = c.copy(m.text, len, cOff, Math.min(c.length, cOff + m.textUnits - len));
      len += k;
      cOff += k;
      if (cOff === c.length) {
        ci++;
        cOff = 0;
      }
    }
    m.text.fill(32, len, len + TEXT_SLACK);
    for (let from = 0; from < len; ) {
      from = m.pass(from, len);
      const ev = m.events;
      const count = m.state[STATE_COUNT]!;
      for (let e = 0; e < count; e++) {
        const kind = ev[e]! & 3;
        const at = ev[e]! >> 2;
        if (kind === EV_PROBE) probes.push(at + seg + off);
        else if (kind === EV_WORD) {
          if (at < 0 || passesGate(matcher!, m.text, len, at)) starts.push(at + seg + off);
        } else if (kind === EV_END) ends.push(at + seg + off);
        else if ((ev[++e]! & (LOOKS_ENCODED | MAY_BE_COMPRESSED)) !== 0) return undefined;
      }
      m.state[STATE_COUNT] = 0;
    }
    if (performance.now() > deadline) throw new DlpBudgetError('DLP scan exceeded its time budget');
  }
  const st = m.state;
  if ((st[STATE_FLAGS]! & FLAG_TRIGGER) !== 0) return undefined;
  // Non-ASCII bytes need the full scan only when they hold a char the NFKC view would change.
  if ((st[STATE_FLAGS]! & FLAG_NON_ASCII) !== 0 && holdsSuspect(chunks, before, utf8)) return undefined;
  // A long run at the end is decoded as it stands (coreScan reports it): only when it could be.
  const run = st[STATE_RUN]!;
  if (run >= MIN_ENCODED_RUN && (m.looksEncoded(len - run, len) !== 0 || m.deflateLooks(len - run, len) !== 0)) return undefined;
  const tail: [number, number] = [st[0]!, st[1]!];
  const due = st[STATE_DUE]!;
  // endStarts reads the last four chars (fewer at the stream's start): the segment's end, after its history.
  const k4 = Math.min(4, off + n);
  const fromText = Math.min(k4, len);
  const last4 = m.hist.toString('latin1', m.hist.length - (k4 - fromText)) + m.text.toString('latin1', len - fromText, len);
  const tailStarts: number[] = [];
  endStarts(last4, starting, tailStarts);
  for (const e of tailStarts) starts.push(off + n - last4.length + e);
  if (matcher) {
    // Word ends near the end, judged by what follows them in the next part (tailEnds).
    const k = Math.min(TAIL_ENDS + 5, off + n);
    const fromBytes = Math.min(k, len);
    const tail = m.hist.toString('latin1', m.hist.length - (k - fromBytes)) + m.text.toString('latin1', len - fromBytes, len);
    tailEnds(tail, matcher, off + n - tail.length, ends);
  }
  const pending: number[] = [];
  if (starts.length > 0 || ends.length > 0 || probes.length > 0 || (carry && carry.probes.length > 0)) {
    const text = latin1(before) + chunks.map((c) => c.toString('latin1')).join('');
    const hits: KnownHit[] = [];
    for (const p of carry ? carry.probes : []) if (known!.verify(text, p, hits)) pending.push(p);
    for (const p of probes) if (known!.verify(text, p, hits)) pending.push(p);
    if (hits.length > 0) return undefined;
    if (matcher && starts.length > 0) {
      const tokens: TokenHit[] = [];
      dispatchRuns(text, matcher, starts, tokens, deadline);
      if (tokens.length > 0) return undefined;
    }
    if (matcher && ends.length > 0) {
      const tokens: TokenHit[] = [];
      const reversed: number[] = [];
      dispatchEnds(text, matcher, ends, tokens, reversed, deadline, false);
      if (tokens.length > 0 || reversed.length > 0) return undefined;
    }
  }
  const total = off + n;
  return { tail, due, run, starts, ends: ends.filter((p) => p >= total - END_CARRY), probes: pending, suspect: false, lastKnown: carry?.lastKnown };
}

/**
 * dispatchRuns' cheap rejects (bucket, third char, word-run length against the
 * key's gate) on bytes[0, n): false only when dispatchRuns would skip the start
 * whatever follows.
 */
function passesGate(matcher: TokenMatcher, bytes: Uint8Array, n: number, p: number): boolean {
  if (p + 2 >= n) return true;
  const c1 = bytes[p + 1]!;
  const w1 = CODE[c1] !== 0;
  const key = (bytes[p]! << 7) | (w1 ? c1 : 0);
  const bucket = matcher.dispatch[key] ?? 0;
  if (bucket === 0) return false;
  if (w1 && !matcher.thirdAllowed(bucket, bytes[p + 2]!)) return glues(bytes[p + 2]!);
  const gate = matcher.keyGate[key]!;
  let e = w1 ? p + 2 : p + 1;
  while (e < n && e - p < gate && CODE[bytes[e]!] !== 0) e++;
  return e >= n || e - p >= gate || (e - p >= 2 && glues(bytes[e]!));
}

/** How close to the end of a stream's part a disguising char makes the next part look for them again. */
const SUSPECT_CARRY = 4096;

/** Handles the events one pass() call wrote; positions are relative to the segment at `seg`. */
function flush(text: string, seg: number, events: Int32Array, state: Int32Array, known: KnownSecretIndex | null, knownHits: KnownHit[], starts: number[], ends: number[], encoded: number[], compressed: number[], probes: number[], allRuns: boolean): void {
  const count = state[STATE_COUNT]!;
  for (let e = 0; e < count; e++) {
    const ev = events[e]!;
    // Arithmetic shift: a word start one char before the segment is position -1.
    const at = (ev >> 2) + seg;
    const kind = ev & 3;
    if (kind === EV_PROBE) {
      if (known!.verify(text, at, knownHits)) probes.push(at);
    } else if (kind === EV_WORD) starts.push(at);
    else if (kind === EV_END) ends.push(at);
    else {
      const word = events[++e]!;
      const len = word & RUN_LENGTH;
      if (allRuns || (word & LOOKS_ENCODED) !== 0) encoded.push(at - len, at);
      else if ((word & MAY_BE_COMPRESSED) !== 0) compressed.push(at - len, at);
    }
  }
  state[STATE_COUNT] = 0;
}

/** Bytes after TEXT_UNITS the module reserves (wasm/pass.ts WIDE). */
const TEXT_SLACK = 64;
/** [tail lo, tail hi, chars to the next probe, base64 run length, flags, event count, trigger pairs, -]. */
const STATE_WORDS = 8;
const STATE_DUE = 2;
const STATE_RUN = 3;
const STATE_FLAGS = 4;
const STATE_COUNT = 5;
const STATE_PAIRS = 6;
const FLAG_NON_ASCII = 1;
const FLAG_TRIGGER = 2;
const EV_END = 0;
const EV_PROBE = 1;
const EV_WORD = 2;
/** Event kind 3 (a base64/hex run ended at the position) is followed by one more word: the run's length, | LOOKS_ENCODED, | MAY_BE_COMPRESSED. */
const LOOKS_ENCODED = 1 << 30;
const MAY_BE_COMPRESSED = 1 << 29;
const RUN_LENGTH = MAY_BE_COMPRESSED - 1;
/** How close to the end of a stream's part a key name keeps being looked at (its value may still be arriving). */
const END_CARRY = 600;

const NO_STARTS = new Uint8Array(STATE_MASK + 1);
// wasm/pass.ts inlines the run threshold as 16 and the probe as 6 chars every 7.
if (MIN_ENCODED_RUN !== 16 || GRAM !== 6 || PROBE_STRIDE !== 7) throw new Error('core.ts: wasm/pass.ts assumes MIN_ENCODED_RUN 16, GRAM 6, PROBE_STRIDE 7');

const glues = (c: number): boolean => c < 128 && TokenMatcherClass.JOIN_TRIGGER[c] === 1;

function dispatchRuns(text: string, matcher: TokenMatcher, starts: readonly number[], out: TokenHit[], deadline: number): void {
  const n = text.length;
  for (let k = 0; k < starts.length; k++) {
    if ((k & 0x3ff) === 0 && performance.now() > deadline) throw new DlpBudgetError('DLP scan exceeded its time budget');
    const s = starts[k]!;
    const c0 = text.charCodeAt(s);
    const c1 = s + 1 < n ? text.charCodeAt(s + 1) : 0;
    const w1 = CODE[c1] !== 0;
    const bucket = matcher.dispatch[(c0 << 7) | (w1 ? c1 : 0)]!;
    if (bucket === 0) continue;
    // Cheapest reject first: most candidates ("co…", "us…", "ap…") fail on their third char.
    const c2 = s + 2 < n ? text.charCodeAt(s + 2) : 0;
    if (w1 && !matcher.thirdAllowed(bucket, c2)) {
      // Two chars of an anchor, then a char that glues fragments: a split token (matchRun joins it).
      if (glues(c2)) matcher.matchRun(text, bucket, s, s + 2, out);
      continue;
    }
    const gate = matcher.keyGate[(c0 << 7) | (w1 ? c1 : 0)]!;
    let e = w1 ? s + 2 : s + 1;
    const limit = Math.min(n, s + gate);
    while (e < limit && CODE[text.charCodeAt(e)] !== 0) e++;
    if (e - s < gate) {
      if (e - s >= 2 && glues(text.charCodeAt(e))) matcher.matchRun(text, bucket, s, e, out);
      continue;
    }
    while (e < n && CODE[text.charCodeAt(e)] !== 0) e++;
    matcher.matchRun(text, bucket, s, e, out);
  }
}

/** How close to the end of a part a word end is looked at again with the next part (the pass saw only spaces after it). */
const TAIL_ENDS = 8;

/**
 * Word ends in the last TAIL_ENDS chars of `text` (offsets + `base`) whose
 * last chars are in the word-end tables: the pass judged what follows them
 * (wasm/pass.ts assignable) by the spaces after the part, so a key name whose
 * `=` or value is in the next part is looked at again then.
 */
function tailEnds(text: string, matcher: TokenMatcher, base: number, ends: number[]): void {
  const { bits, rest } = endBits(matcher);
  const n = text.length;
  const low = (p: number): number => (p >= 0 ? text.charCodeAt(p) & 31 : 0);
  for (let p = Math.max(0, n - TAIL_ENDS); p < n; p++) {
    if (CODE[text.charCodeAt(p)] === 0 || (p + 1 < n && CODE[text.charCodeAt(p + 1)] !== 0)) continue;
    const idx = (low(p) << 10) | (low(p - 1) << 5) | low(p - 2);
    if (((bits[idx >>> 5]! >>> (idx & 31)) & 1) === 0) continue;
    const h = (Math.imul(idx, 0x9e3779b1) >>> 22) << 1;
    if (((rest[h]! >>> low(p - 3)) & (rest[h + 1]! >>> low(p - 4)) & 1) === 0) continue;
    if (!ends.includes(base + p)) ends.push(base + p);
  }
}

/**
 * The word ends the pass reported (the word-end table is a prefilter, and a
 * segment's end reports a word that may go on): a key name assigned a secret
 * (keywords.ts), or a token written backwards (its position goes to
 * `reversed`, for views.ts).
 */
function dispatchEnds(text: string, matcher: TokenMatcher, ends: readonly number[], out: TokenHit[], reversed: number[], deadline: number, final: boolean): void {
  for (let k = 0; k < ends.length; k++) {
    if ((k & 0x3ff) === 0 && performance.now() > deadline) throw new DlpBudgetError('DLP scan exceeded its time budget');
    const p = ends[k]!;
    if (p < 0 || p >= text.length || (CODE[text.charCodeAt(p + 1)] ?? 0) !== 0) continue;
    if (matcher.reversedAt(text, p)) reversed.push(p);
    keywordAt(text, p, out, final);
  }
}

/**
 * suspects() for UTF-8 bytes read as latin1: each run of non-ASCII bytes is
 * decoded, and the run's first byte is reported when it holds a char that
 * can hide or disguise a token (a zero-width space is E2 80 8B, no byte of
 * which means anything as latin1).
 */
function suspectsUtf8(text: string): { suspect: number[]; overflow: boolean } {
  const SUSPECT = suspectTable();
  const suspect: number[] = [];
  const runs = /[\x80-\xff]+/g;
  for (let m = runs.exec(text); m !== null; m = runs.exec(text)) {
    if (!utf8RunSuspect(text, m.index, m.index + m[0].length, SUSPECT)) continue;
    if (suspect.length === MAX_SUSPECT) return { suspect, overflow: true };
    suspect.push(m.index);
  }
  return { suspect, overflow: false };
}

/**
 * Whether the UTF-8 bytes text[s, e) (latin1) decode, as decodeUtf8 would, to
 * a suspect char. Decoded in place: most runs are one accented letter or
 * dash, and building strings for them was most of the cost. An invalid or
 * cut-short sequence decodes to U+FFFD, which is not suspect; a
 * supplementary char is suspect by its lead surrogate.
 */
function utf8RunSuspect(text: string, s: number, e: number, SUSPECT: Uint8Array): boolean {
  for (let i = s; i < e; ) {
    const c = utf8Char(text, i, e);
    if (c < 0) {
      i++;
      continue;
    }
    const cp = c >> 3;
    if (SUSPECT[cp < 0x10000 ? cp : 0xd800 + ((cp - 0x10000) >> 10)] === 1) return true;
    i += c & 7;
  }
  return false;
}

/**
 * Whether `chunks` (the bytes after `before`) hold a suspect char, as coreScan
 * would find it over `before + chunks`: as UTF-8 (a sequence may begin in the
 * carried text, so the run of non-ASCII bytes that ends it is decoded with
 * them) or one char per byte. `before` holds none: a stream whose carried text
 * has one takes the full scan.
 */
function holdsSuspect(chunks: readonly Buffer[], before: Carried, utf8: boolean): boolean {
  const text = chunks.length === 1 ? chunks[0]!.toString('latin1') : chunks.map((c) => c.toString('latin1')).join('');
  if (!utf8) return suspects(text).suspect.length > 0;
  let k = before.length;
  while (k > 0 && (typeof before === 'string' ? before.charCodeAt(k - 1) : before[k - 1]!) >= 0x80) k--;
  return suspectsUtf8(latin1(before, k) + text).suspect.length > 0;
}

function suspects(text: string): { suspect: number[]; overflow: boolean } {
  const SUSPECT = suspectTable();
  const suspect: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (SUSPECT[text.charCodeAt(i)] === 1) {
      if (suspect.length === MAX_SUSPECT) return { suspect, overflow: true };
      suspect.push(i);
    }
  }
  return { suspect, overflow: false };
}
