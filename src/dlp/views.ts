// Decoded views: an agent that wants to leak will encode. Views are built only
// around spans that look encoded (long base64/hex runs, %XX, \x/\u escapes,
// non-ASCII chars), never for the whole text, and each view remembers the
// source span it came from so findings point at the encoded text.
import { constants, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import type { CoreResult } from './core.js';
import { compressedKind } from './deflate.js';
import { INVISIBLE, suspectTable } from './disguise.js';
import { decodeUtf8 } from './utf8.js';

export interface View {
  name: 'base64' | 'hex' | 'url' | 'escape' | 'nfkc' | 'gzip' | 'zlib' | 'deflate' | 'reversed';
  text: string;
  /** Source span in the scanned text. */
  start: number;
  end: number;
  /** For views whose length differs unevenly from the source (nfkc): source offset of each view char, relative to start. */
  map?: number[];
  /** The view is the source written backwards: view char k is source char end - 1 - k. */
  reversed?: boolean;
}

const MAX_REGION = 8192;
/** How far back a token written backwards is read from where its reversed prefix ends. */
const MAX_REVERSED = 600;
/**
 * Compressed payloads: base64 runs up to 1 MiB, the first 64 KiB of the
 * compressed bytes, at most 1 MiB out; per text, a bounded number of runs
 * looked at (~2 µs each) and of those zlib is asked about (~140 µs when it fails).
 */
const MAX_COMPRESSED_RUN = 1 << 20;
const MAX_COMPRESSED_BYTES = 64 * 1024;
const MAX_INFLATED = 1 << 20;
const MAX_INFLATE_ATTEMPTS = 64;
const MAX_COMPRESSED_CANDIDATES = 4096;
/** Chars a token (or a URL holding one) is made of: where reading it backwards stops. */
const TOKEN_CHAR = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.+/=~:$@%') TOKEN_CHAR[c.charCodeAt(0)] = 1;
const NFKC_MARGIN = 160;
/** Base64 of real text is almost all printable; of images and keys it is not. */
const MIN_PRINTABLE = 0.9;
const MIN_DECODED = 8;

function printable(buf: Buffer): boolean {
  if (buf.length < MIN_DECODED) return false;
  // A cheap look at the head first: most binary blobs fail within 64 bytes.
  const head = Math.min(buf.length, 64);
  let ok = 0;
  for (let i = 0; i < head; i++) {
    const b = buf[i] ?? 0;
    if ((b >= 0x20 && b < 0x7f) || b === 9 || b === 10 || b === 13) ok++;
  }
  if (ok < head * MIN_PRINTABLE) return false;
  for (let i = head; i < buf.length; i++) {
    const b = buf[i] ?? 0;
    if ((b >= 0x20 && b < 0x7f) || b === 9 || b === 10 || b === 13) ok++;
  }
  return ok >= buf.length * MIN_PRINTABLE;
}

export const B64_VALUE = new Int8Array(128).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('').forEach((ch, v) => (B64_VALUE[ch.charCodeAt(0)] = v));
B64_VALUE['-'.charCodeAt(0)] = 62;
B64_VALUE['_'.charCodeAt(0)] = 63;
const LEAD_GROUPS = 8;

/**
 * Cheap reject before decoding: in base64 of printable ASCII the first char of
 * every 4-char group encodes the top 6 bits of a byte in 0x20..0x7e, i.e. a
 * value 8..31. Identifiers, UUIDs and random blobs fail within a few groups.
 */
function looksLikeBase64Text(text: string, start: number, end: number): boolean {
  for (let g = 0, p = start; g < LEAD_GROUPS && p < end; g++, p += 4) {
    const v = B64_VALUE[text.charCodeAt(p) & 127] ?? -1;
    if (v < 8 || v > 31) return false;
  }
  return true;
}

/** Same idea for hex: every byte of printable ASCII starts with a nibble 2..7. */
function looksLikeHexText(text: string, start: number, end: number): boolean {
  if ((end - start) % 2 !== 0) return false;
  for (let p = start; p < end; p++) {
    const c = text.charCodeAt(p);
    const hex = (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
    if (!hex) return false;
    if ((p - start) % 2 === 0 && p - start < 2 * LEAD_GROUPS && (c < 50 || c > 55)) return false;
  }
  return true;
}

function base64View(text: string, start: number, end: number): View | undefined {
  // A run may begin with a path or a word glued to the blob; try each base64 alignment.
  const shifts = end - start <= 4096 ? 4 : 1;
  for (let s = 0; s < shifts; s++) {
    if (!looksLikeBase64Text(text, start + s, end)) continue;
    const buf = Buffer.from(text.slice(start + s, end), 'base64');
    if (printable(buf)) return { name: 'base64', text: buf.toString('utf8'), start: start + s, end };
  }
  return undefined;
}

/** Grow [p, p+1) over chars that can belong to one encoded value (no whitespace or quotes). */
function region(text: string, p: number): [number, number] {
  let a = p;
  let b = p + 1;
  const stop = /[\s"'`<>]/;
  while (a > 0 && p - a < MAX_REGION && !stop.test(text.charAt(a - 1))) a--;
  while (b < text.length && b - p < MAX_REGION && !stop.test(text.charAt(b))) b++;
  return [a, b];
}

/**
 * Regions around each match of `needle` (sticky) at an occurrence of `lead`:
 * indexOf finds the rare lead char far faster than the regex engine would
 * find the pattern by trying every position.
 */
function regionsAround(text: string, lead: string, needle: RegExp, from: number, to: number): [number, number][] {
  const out: [number, number][] = [];
  for (let p = text.indexOf(lead, from); p !== -1 && p < to; p = text.indexOf(lead, p + 1)) {
    needle.lastIndex = p;
    if (!needle.test(text)) continue;
    const [a, b] = region(text, p);
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
    p = Math.max(b, p + 1) - 1;
  }
  return out;
}

function decodePercent(s: string): string {
  return s.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) => Buffer.from(run.replace(/%/g, ''), 'hex').toString('utf8'));
}

function decodeEscapes(s: string): string {
  return s
    .replace(/\\u\{([0-9a-fA-F]{1,6})\}/g, (_, h: string) => safeCodePoint(h))
    .replace(/\\u([0-9a-fA-F]{4})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
    .replace(/(?:\\x[0-9a-fA-F]{2})+/g, (run) => Buffer.from(run.replace(/\\x/g, ''), 'hex').toString('latin1'));
}

function safeCodePoint(hex: string): string {
  const cp = parseInt(hex, 16);
  return cp <= 0x10ffff ? String.fromCodePoint(cp) : '';
}

/**
 * NFKC per code point with invisible chars dropped, plus each output char's
 * source offset. Runs of chars that are not suspect (disguise.ts: the view
 * keeps them as they are, which covers ASCII, most scripts and the
 * supplementary blocks without compatibility forms) are copied whole; only
 * suspect ones are normalised one by one. Text dense with them (Japanese
 * fullwidth punctuation, no-break spaces) no longer costs a normalize call per char.
 */
export function normalizeWithMap(s: string): { text: string; map: number[] } {
  const suspect = suspectTable();
  let text = '';
  const map: number[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j < s.length && suspect[s.charCodeAt(j)] !== 1) j++;
    if (j > i) {
      text += s.slice(i, j);
      // Both units of a surrogate pair map to where the char starts.
      for (let k = i; k < j; k++) map.push(k > i && (s.charCodeAt(k) & 0xfc00) === 0xdc00 && (s.charCodeAt(k - 1) & 0xfc00) === 0xd800 ? k - 1 : k);
      i = j;
      if (i === s.length) break;
    }
    const cp = s.codePointAt(i) ?? 0;
    const ch = String.fromCodePoint(cp);
    if (!INVISIBLE.test(ch)) {
      const n = ch.normalize('NFKC');
      text += n;
      for (let k = 0; k < n.length; k++) map.push(i);
    }
    i += ch.length;
  }
  map.push(s.length);
  return { text, map };
}

/**
 * `utf8`: the text is UTF-8 bytes read as latin1 (ScannerOptions.utf8Bytes); the
 * NFKC view then decodes its span first (widened to whole characters).
 */
/** [a, b) widened so it neither starts nor ends inside a UTF-8 sequence (continuation bytes are 0x80-0xbf). */
function wholeChars(text: string, a: number, b: number, from: number, to: number): [number, number] {
  const cont = (p: number): boolean => p < text.length && (text.charCodeAt(p) & 0xc0) === 0x80;
  while (a > from && cont(a)) a--;
  while (b < to && cont(b)) b++;
  return [a, b];
}

/** The token chars that end at `p`, written forwards again. */
function reversedView(text: string, p: number): View {
  let a = p;
  while (a > 0 && p - a < MAX_REVERSED && TOKEN_CHAR[text.charCodeAt(a - 1)] === 1) a--;
  let rev = '';
  for (let i = p; i >= a; i--) rev += text.charAt(i);
  return { name: 'reversed', text: rev, start: a, end: p + 1, reversed: true };
}

/**
 * A base64 run that decodes to gzip, zlib or raw DEFLATE data holding text
 * (no header or content type needs to say so). deflate.ts rejects nearly all
 * other runs before zlib is asked; zlib reads at most MAX_COMPRESSED_BYTES
 * (a cut-off stream yields what it has) and may write at most MAX_INFLATED.
 */
function compressedView(text: string, start: number, end: number, budget: { attempts: number }): View | undefined {
  if (end - start > MAX_COMPRESSED_RUN) return undefined;
  // The first 24 bytes reject nearly every run; 512 hold any block header deflate.ts reads.
  if (!compressedKind(Buffer.from(text.slice(start, Math.min(end, start + 32)), 'base64'), true)) return undefined;
  const head = Buffer.from(text.slice(start, Math.min(end, start + 684)), 'base64');
  const kind = compressedKind(head);
  if (!kind || budget.attempts-- <= 0) return undefined;
  const bytes = Buffer.from(text.slice(start, Math.min(end, start + Math.ceil((MAX_COMPRESSED_BYTES * 4) / 3))), 'base64');
  const opts = { maxOutputLength: MAX_INFLATED, finishFlush: constants.Z_SYNC_FLUSH };
  let out: Buffer;
  try {
    out = kind === 'gzip' ? gunzipSync(bytes, opts) : kind === 'zlib' ? inflateSync(bytes, opts) : inflateRawSync(bytes, opts);
  } catch {
    return undefined;
  }
  return printable(out) ? { name: kind, text: out.toString('utf8'), start, end } : undefined;
}

export function buildViews(text: string, core: CoreResult, from = 0, to = text.length, utf8 = false): View[] {
  const views: View[] = [];
  for (const p of core.reversed) if (p >= from && p < to) views.push(reversedView(text, p));
  const budget = { attempts: MAX_INFLATE_ATTEMPTS };
  for (let i = 0; i + 1 < core.compressed.length && i < 2 * MAX_COMPRESSED_CANDIDATES; i += 2) {
    const v = compressedView(text, core.compressed[i]!, core.compressed[i + 1]!, budget);
    if (v) views.push(v);
  }
  const enc = core.encoded;
  for (let i = 0; i + 1 < enc.length; i += 2) {
    const start = enc[i]!;
    const end = enc[i + 1]!;
    if (looksLikeHexText(text, start, end)) {
      const buf = Buffer.from(text.slice(start, end), 'hex');
      if (printable(buf)) {
        views.push({ name: 'hex', text: buf.toString('utf8'), start, end });
        continue;
      }
    }
    const v = base64View(text, start, end) ?? compressedView(text, start, end, budget);
    if (v) views.push(v);
  }
  if (text.indexOf('%', from) !== -1) {
    for (const [a, b] of regionsAround(text, '%', /%[0-9a-fA-F]{2}/y, from, to)) {
      views.push({ name: 'url', text: decodePercent(text.slice(a, b)), start: a, end: b });
    }
  }
  if (text.indexOf('\\', from) !== -1) {
    for (const [a, b] of regionsAround(text, '\\', /\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F{])/y, from, to)) {
      views.push({ name: 'escape', text: decodeEscapes(text.slice(a, b)), start: a, end: b });
    }
  }
  if (core.suspect.length > 0) {
    const spans: [number, number][] = core.suspectOverflow ? [[from, to]] : [];
    if (!core.suspectOverflow) {
      for (const p of core.suspect) {
        const a = Math.max(from, p - NFKC_MARGIN);
        const b = Math.min(to, p + NFKC_MARGIN);
        const last = spans[spans.length - 1];
        if (last && a <= last[1]) last[1] = b;
        else spans.push([a, b]);
      }
    }
    for (const span of spans) {
      const [a, b] = utf8 ? wholeChars(text, span[0], span[1], from, to) : span;
      const src = text.slice(a, b);
      if (!utf8) {
        const norm = normalizeWithMap(src);
        if (norm.text !== src) views.push({ name: 'nfkc', text: norm.text, start: a, end: b, map: norm.map });
        continue;
      }
      const dec = decodeUtf8(src);
      const norm = normalizeWithMap(dec.text);
      if (norm.text !== dec.text) views.push({ name: 'nfkc', text: norm.text, start: a, end: b, map: norm.map.map((k) => dec.at[k]!) });
    }
  }
  return views;
}
