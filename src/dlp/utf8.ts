// Request bodies are scanned as latin1 (one char per byte, so findings are byte
// offsets). Where a view needs characters, the bytes are decoded here, with the
// byte offset of every UTF-16 unit of the result, so findings in the view point
// back at the bytes. TextDecoder cannot say where each char came from.

/**
 * `bytes` (a latin1 string: one char per byte) decoded as UTF-8; `at[k]` is the
 * byte offset of text[k], and at[text.length] === bytes.length. An invalid or
 * cut-short sequence becomes one U+FFFD per byte, as a scanner should see it.
 */
export function decodeUtf8(bytes: string): { text: string; at: number[] } {
  let text = '';
  const at: number[] = [];
  const n = bytes.length;
  for (let i = 0; i < n; ) {
    const c = utf8Char(bytes, i, n);
    if (c < 0) {
      at.push(i);
      text += '\ufffd';
      i++;
      continue;
    }
    const ch = String.fromCodePoint(c >> 3);
    for (let k = 0; k < ch.length; k++) at.push(i);
    text += ch;
    i += c & 7;
  }
  at.push(n);
  return { text, at };
}

/**
 * The UTF-8 char at bytes[i] (a latin1 string, ending at `end`), packed as
 * code point * 8 + its length in bytes, or -1 when the sequence there is
 * invalid or cut short (overlong forms, surrogates and values past U+10FFFF
 * are invalid too): the caller then takes one byte as U+FFFD.
 */
export function utf8Char(bytes: string, i: number, end: number): number {
  const b0 = bytes.charCodeAt(i);
  const len = b0 < 0x80 ? 1 : b0 >= 0xc2 && b0 < 0xe0 ? 2 : b0 >= 0xe0 && b0 < 0xf0 ? 3 : b0 >= 0xf0 && b0 < 0xf5 ? 4 : 0;
  if (len === 0 || i + len > end) return -1;
  let cp = len === 1 ? b0 : len === 2 ? b0 & 0x1f : len === 3 ? b0 & 0x0f : b0 & 0x07;
  for (let k = 1; k < len; k++) {
    const b = bytes.charCodeAt(i + k);
    if ((b & 0xc0) !== 0x80) return -1;
    cp = (cp << 6) | (b & 0x3f);
  }
  if ((len === 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len === 4 && (cp < 0x10000 || cp > 0x10ffff))) return -1;
  return cp * 8 + len;
}
