// Whether bytes can be the start of a DEFLATE stream (RFC 1951) that holds
// text, checked before asking node's zlib: a failed inflateRawSync costs
// ~140 µs (a fresh stream and an exception), and base64 of random bytes (keys,
// images, hashes) is common, compressed text in a request is not. Reads the
// first block's header as puff.c (zlib's reference decoder) does: stored
// blocks need LEN = ~NLEN; Huffman blocks need complete code tables and an
// end-of-block code; and the first symbols must be printable literals. Random
// bytes fail one of these nearly always. The decompression itself is zlib's.

const MAXBITS = 15;

class BitReader {
  private bit = 0;
  /** A read went past the end of the bytes. */
  exhausted = false;
  constructor(
    private readonly buf: Uint8Array,
    private pos: number,
  ) {}

  /** `n` bits, least significant first; -1 past the end. */
  bits(n: number): number {
    let v = 0;
    for (let k = 0; k < n; k++) {
      if (this.pos >= this.buf.length) {
        this.exhausted = true;
        return -1;
      }
      v |= ((this.buf[this.pos]! >> this.bit) & 1) << k;
      if (++this.bit === 8) {
        this.bit = 0;
        this.pos++;
      }
    }
    return v;
  }

  align(): void {
    if (this.bit !== 0) {
      this.bit = 0;
      this.pos++;
    }
  }

  byte(): number {
    return this.pos < this.buf.length ? this.buf[this.pos++]! : -1;
  }
}

interface Huffman {
  count: Uint16Array;
  symbol: Uint16Array;
}

/** Canonical code from lengths; `left` > 0: incomplete, < 0: over-subscribed. */
function build(lengths: ArrayLike<number>, n: number): { h: Huffman; left: number } {
  const count = new Uint16Array(MAXBITS + 1);
  for (let s = 0; s < n; s++) count[lengths[s]!]!++;
  const h = { count, symbol: new Uint16Array(n) };
  if (count[0] === n) return { h, left: 1 };
  let left = 1;
  for (let len = 1; len <= MAXBITS; len++) {
    left = left * 2 - count[len]!;
    if (left < 0) return { h, left };
  }
  const offs = new Uint16Array(MAXBITS + 1);
  for (let len = 1; len < MAXBITS; len++) offs[len + 1] = offs[len]! + count[len]!;
  for (let s = 0; s < n; s++) if (lengths[s] !== 0) h.symbol[offs[lengths[s]!]!++] = s;
  return { h, left };
}

function decode(r: BitReader, h: Huffman): number {
  let code = 0;
  let first = 0;
  let index = 0;
  for (let len = 1; len <= MAXBITS; len++) {
    const b = r.bits(1);
    if (b < 0) return -1;
    code |= b;
    const count = h.count[len]!;
    if (code - count < first) return h.symbol[index + (code - first)]!;
    index += count;
    first += count;
    first <<= 1;
    code <<= 1;
  }
  return -1;
}

const printable = (b: number): boolean => (b >= 32 && b < 127) || b === 9 || b === 10 || b === 13;

interface Codes {
  lit: Huffman;
  dist: Huffman;
}

let fixed: Codes | undefined;
function fixedCodes(): Codes {
  if (fixed) return fixed;
  const lengths = new Uint8Array(288);
  lengths.fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280, 288);
  return (fixed = { lit: build(lengths, 288).h, dist: build(new Uint8Array(30).fill(5), 30).h });
}

const LBASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEXT = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DBASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DEXT = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];

const ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** The dynamic block's codes, or undefined when its header is not valid. */
function dynamicCodes(r: BitReader): Codes | undefined {
  const nlen = r.bits(5) + 257;
  const ndist = r.bits(5) + 1;
  const ncode = r.bits(4) + 4;
  if (nlen > 286 || ndist > 30 || ncode < 4) return undefined;
  const lengths = new Uint8Array(320);
  for (let k = 0; k < ncode; k++) {
    const b = r.bits(3);
    if (b < 0) return undefined;
    lengths[ORDER[k]!] = b;
  }
  const lencode = build(lengths, 19);
  if (lencode.left !== 0) return undefined;
  lengths.fill(0);
  for (let k = 0; k < nlen + ndist; ) {
    const sym = decode(r, lencode.h);
    if (sym < 0) return undefined;
    if (sym < 16) {
      lengths[k++] = sym;
      continue;
    }
    let len = 0;
    let rep: number;
    if (sym === 16) {
      if (k === 0) return undefined;
      len = lengths[k - 1]!;
      rep = 3 + r.bits(2);
    } else if (sym === 17) rep = 3 + r.bits(3);
    else rep = 11 + r.bits(7);
    if (rep < 3 || k + rep > nlen + ndist) return undefined;
    while (rep-- > 0) lengths[k++] = len;
  }
  if (lengths[256] === 0) return undefined;
  const lit = build(lengths, nlen);
  // zlib accepts an incomplete code only when it has a single symbol.
  if (lit.left < 0 || (lit.left > 0 && nlen - lit.h.count[0]! !== 1)) return undefined;
  const dist = build(lengths.subarray(nlen), ndist);
  if (dist.left < 0) return undefined;
  return { lit: lit.h, dist: dist.h };
}

/** Symbols decoded: printable literals, and copies of text already out (never from before its start). */
const FIRST_SYMBOLS = 24;
const FIRST_LITERALS = 4;

/**
 * Whether `buf` from `at` can start a DEFLATE stream of text. `prefix`: `buf`
 * is only the first bytes of the data; running out of them before anything
 * was found wrong is not a reason to reject (a second look with more decides).
 */
export function plausibleDeflate(buf: Uint8Array, at: number, prefix = false): boolean {
  const r = new BitReader(buf, at);
  return firstSymbols(r) || (prefix && r.exhausted);
}

/** The first block's header and first symbols hold together. */
function firstSymbols(r: BitReader): boolean {
  r.bits(1);
  const type = r.bits(2);
  if (type < 0 || type === 3) return false;
  if (type === 0) {
    r.align();
    const len = r.bits(16);
    const nlen = r.bits(16);
    if (len < 0 || (len ^ nlen) !== 0xffff) return false;
    for (let k = 0; k < Math.min(len, FIRST_SYMBOLS); k++) {
      const b = r.byte();
      if (b < 0 || !printable(b)) return false;
    }
    return true;
  }
  const codes = type === 1 ? fixedCodes() : dynamicCodes(r);
  if (!codes) return false;
  let out = 0;
  for (let k = 0; k < FIRST_SYMBOLS; k++) {
    const sym = decode(r, codes.lit);
    // The input we were given ran out: what was read held together.
    if (sym < 0) return out >= FIRST_LITERALS;
    if (sym < 256) {
      if (!printable(sym)) return false;
      out++;
    } else if (sym === 256) return out > 0;
    else {
      if (sym > 285 || out < 2) return false;
      const len = LBASE[sym - 257]! + r.bits(LEXT[sym - 257]!);
      const d = decode(r, codes.dist);
      if (d < 0) return out >= FIRST_LITERALS;
      if (d > 29 || DBASE[d]! + r.bits(DEXT[d]!) > out) return false;
      out += len;
    }
  }
  return true;
}

/** What kind of compressed stream `buf` is, by its header: gzip and zlib have one, raw DEFLATE none. `prefix`: see plausibleDeflate. */
export function compressedKind(buf: Uint8Array, prefix = false): 'gzip' | 'zlib' | 'deflate' | undefined {
  if (buf.length >= 18 && buf[0] === 0x1f && buf[1] === 0x8b && buf[2] === 8 && (buf[3]! & 0xe0) === 0) {
    // gzip: the deflate data starts after the header's optional fields; zlib checks them.
    return 'gzip';
  }
  if (buf.length >= 6 && (buf[0]! & 0x0f) === 8 && buf[0]! >> 4 <= 7 && ((buf[0]! << 8) | buf[1]!) % 31 === 0 && (buf[1]! & 0x20) === 0) {
    return plausibleDeflate(buf, 2, prefix) ? 'zlib' : undefined;
  }
  return buf.length >= 4 && plausibleDeflate(buf, 0, prefix) ? 'deflate' : undefined;
}
