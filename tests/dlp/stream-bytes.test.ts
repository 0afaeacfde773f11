// Request bodies are scanned as bytes (pushBytes): chunks the pass alone can
// clear skip the JavaScript side and are never turned into strings. These
// tests hold that path to the string path's results, and check which chunks
// it may clear (core.ts quietBytes).
import { describe, expect, it } from 'vitest';
import { createStreamScanner, type Finding } from '../../src/dlp/index.js';
import { quietBytes } from '../../src/dlp/core.js';
import { decodeUtf8 } from '../../src/dlp/utf8.js';
import { KnownSecretIndex } from '../../src/dlp/known.js';
import { TokenMatcher } from '../../src/dlp/tokens.js';
import { checksummed, positives, rnd } from './fixtures.js';

const DET = ['token_patterns', 'known_secrets'] as const;
const key = (fs: Finding[]): string[] => fs.map((f) => `${f.rule}@${f.start}-${f.end}:${f.line}:${f.column}`);

/** Findings of the whole text streamed in pieces, as strings or as bytes (split into `parts` buffers per push). */
function stream(text: string, sizes: () => number, bytes: boolean, settle: boolean, secrets: string[], parts = 1): Finding[] {
  const s = createStreamScanner({ detectors: DET, knownSecrets: secrets, windowChars: 512, settle });
  const buf = Buffer.from(text, 'latin1');
  const out: Finding[] = [];
  for (let p = 0; p < buf.length; ) {
    const c = buf.subarray(p, p + sizes());
    p += c.length;
    if (!bytes) out.push(...s.push(c.toString('latin1')));
    else if (parts === 1) out.push(...s.pushBytes(c));
    else out.push(...s.pushBytes([c.subarray(0, c.length >> 1), c.subarray(c.length >> 1)]));
  }
  return [...out, ...s.end()];
}

describe('pushBytes', () => {
  const secret = rnd(32);
  const forms = [secret, Buffer.from(secret).toString('base64'), Buffer.from(`k=${secret}`).toString('base64url'), Buffer.from(secret).toString('hex'), secret.split('').join('-'), secret.slice(5, 19)];
  const samples = Object.values(positives());
  const fillers = ['lorem ipsum dolor sit amet ', '{"role":"user","content":"refactor this"}\n', 'abcdefghij0123456789 ', 'const x = f(y); // note\n', 'Monday New Once user used '];

  it('reports exactly what push reports, for every detector family, encoding and chunking', () => {
    let total = 0;
    for (let round = 0; round < 60; round++) {
      let text = '';
      for (let k = 0; k < 30; k++) {
        const r = (round * 31 + k * 7) % 10;
        text += r === 0 ? `${samples[(round + k) % samples.length]} ` : r === 1 ? `${forms[(round + k) % forms.length]} ` : fillers[(round + k) % fillers.length]!.repeat(1 + (k % 4));
      }
      // The same chunking for each run: a fresh size sequence per stream.
      const sizes = (): (() => number) => {
        let n = 0;
        return () => [1, 3, 17, 64, 200, 700, 4000][(n++ * 5 + round) % 7]!;
      };
      for (const settle of [false, true]) {
        const expected = key(stream(text, sizes(), false, settle, [secret]));
        expect(key(stream(text, sizes(), true, settle, [secret])), `round ${round} settle ${settle}`).toEqual(expected);
        expect(key(stream(text, sizes(), true, settle, [secret], 2)), `round ${round} settle ${settle}, two buffers`).toEqual(expected);
        total += expected.length;
      }
    }
    // Not vacuous: the texts are full of findings.
    expect(total).toBeGreaterThan(300);
  });

  it('handles chunks larger than the text segment of the module (128 KiB), with findings on and around its seams', () => {
    const SEG = 1 << 17;
    const filler = 'lorem ipsum dolor sit amet abcdefghij0123456789 ';
    const token = checksummed('gh' + 'p_');
    let text = filler.repeat(Math.ceil((3 * SEG) / filler.length));
    // A token across the first seam, the secret across the second, a base64 form just after it.
    const put = (at: number, v: string): void => void (text = text.slice(0, at) + v + text.slice(at + v.length));
    put(SEG - 10, ` ${token} `);
    put(2 * SEG - 7, ` ${secret} `);
    put(2 * SEG + 200, ` ${Buffer.from(secret).toString('base64')} `);
    const strings = createStreamScanner({ detectors: DET, knownSecrets: [secret] });
    const expected = key([...strings.push(text), ...strings.end()]);
    expect(expected).toHaveLength(3);
    const bytes = createStreamScanner({ detectors: DET, knownSecrets: [secret] });
    expect(key([...bytes.pushBytes(Buffer.from(text, 'latin1')), ...bytes.end()])).toEqual(expected);
  });

  it('finds a 12-char piece of a known secret at every offset and split point, however the probes fall', () => {
    const lead = 'lorem ipsum dolor sit amet abcdefghij0123456789 '.repeat(3);
    for (let shift = 0; shift < 9; shift++) {
      const piece = secret.slice(shift, shift + 12);
      const text = `${lead.slice(0, 40 + shift)} ${piece} ${lead}`;
      for (const cut of [41 + shift, 45 + shift, 53 + shift, 60]) {
        const s = createStreamScanner({ detectors: DET, knownSecrets: [secret] });
        const buf = Buffer.from(text, 'latin1');
        const found = [...s.pushBytes(buf.subarray(0, cut)), ...s.pushBytes(buf.subarray(cut)), ...s.end()];
        expect(found.map((f) => text.slice(f.start, f.end)), `shift ${shift} cut ${cut}`).toEqual([piece]);
      }
    }
  });
});

describe('utf8Bytes (request bodies: UTF-8 read as latin1)', () => {
  const token = checksummed('gh' + 'p_');
  const disguised = [`${token.slice(0, 6)}\u200b${token.slice(6)}`, `gh\uff50${token.slice(3)}`, `${token.slice(0, 10)}\u2060${token.slice(10)}`];
  const scanBody = (text: string, utf8Bytes: boolean): Finding[] => {
    const s = createStreamScanner({ detectors: DET, knownSecrets: [], settle: true, utf8Bytes });
    return [...s.pushBytes(Buffer.from(text, 'utf8')), ...s.end()];
  };

  it('finds a token with a zero-width, word-joiner or fullwidth char inside, spanning exactly its bytes', () => {
    for (const v of disguised) {
      const text = `caf\u00e9 \u2014 ${v} \u00fcber`;
      const found = scanBody(text, true);
      expect(found.map((f) => f.rule), v).toEqual(['github-pat']);
      expect(Buffer.from(text, 'utf8').subarray(found[0]!.start, found[0]!.end).toString('utf8')).toBe(v);
      // As plain latin1 the disguise works: the bytes of U+200B or U+FF50 mean nothing there.
      expect(scanBody(text, false)).toEqual([]);
    }
  });

  it('reports exactly what push reports for UTF-8 prose, with disguised tokens and chars split at every byte', () => {
    // Non-ASCII bytes stay on the byte path unless they hold a char the NFKC view changes.
    const secret = rnd(32);
    const prose = ['\u201cCaf\u00e9\u201d \u2014 it\u2019s fine \u2022 ', '\u0416\u0443\u0440\u043d\u0430\u043b \u4e2d\u6587 \u{1f600} ', 'lorem ipsum dolor sit amet '];
    const hidden = [...disguised, `${secret.slice(0, 8)}\u200b${secret.slice(8, 20)}\u00a0${secret.slice(20)}`, `${secret.slice(0, 6)}\u017f${secret.slice(7)}`, token];
    let total = 0;
    for (let round = 0; round < 24; round++) {
      let text = '';
      for (let k = 0; k < 12; k++) text += (round + k) % 5 === 0 ? `${hidden[(round + k) % hidden.length]} ` : prose[(round + k) % prose.length]!.repeat(1 + ((round + k) % 3));
      const buf = Buffer.from(text, 'utf8');
      const run = (bytes: boolean): string[] => {
        const s = createStreamScanner({ detectors: DET, knownSecrets: [secret], windowChars: 512, settle: true, utf8Bytes: true });
        const out: Finding[] = [];
        let n = 0;
        for (let p = 0; p < buf.length; ) {
          const c = buf.subarray(p, p + [1, 2, 3, 5, 17, 64, 333][(n++ + round) % 7]!);
          p += c.length;
          out.push(...(bytes ? s.pushBytes(c) : s.push(c.toString('latin1'))));
        }
        return key([...out, ...s.end()]);
      };
      const expected = run(false);
      expect(run(true), `round ${round}`).toEqual(expected);
      total += expected.length;
    }
    expect(total).toBeGreaterThan(20);
  });

  it('decodes invalid and cut-short UTF-8 as one U+FFFD per byte, keeping every offset', () => {
    const bytes = Buffer.concat([Buffer.from('a\u00e9'), Buffer.from([0xff, 0xe2, 0x80]), Buffer.from('\u{1f600}z')]).toString('latin1');
    const { text, at } = decodeUtf8(bytes);
    expect(text).toBe('a\u00e9\ufffd\ufffd\ufffd\u{1f600}z');
    expect(at).toEqual([0, 1, 3, 4, 5, 6, 6, 10, 11]);
  });
});

describe('quietBytes (the pass alone clears a chunk)', () => {
  const matcher = new TokenMatcher();
  const known = new KnownSecretIndex([rnd(32)]);
  const chunk = (s: string): Buffer => Buffer.alloc(20_000, s);
  const quiet = (b: Buffer, before: string | Buffer = '', utf8 = false): boolean => quietBytes([b], before, matcher, known, undefined, Infinity, utf8) !== undefined;

  it('clears prose, code and JSON whose word starts and bitset hits fail the cheap tests', () => {
    expect(quiet(chunk('lorem ipsum dolor sit amet abcdefghij0123456789 '))).toBe(true);
    expect(quiet(chunk('{"role":"user","content":"Please refactor the function below","id":1234}\n'))).toBe(true);
    expect(quiet(chunk('Monday: New Orleans, Once upon a time; users used it. '))).toBe(true);
    // JSON escapes that no view decodes (\n, \", \\) are not triggers; \x and \u are (below).
    expect(quiet(chunk('{"content":"line one\\nline \\"two\\" C:\\\\dir"}\n'))).toBe(true);
  });

  it('never clears a chunk with a token, a known-secret window, a decodable run, an escape, an infix or a disguising char', () => {
    const filler = 'lorem ipsum dolor sit amet ';
    for (const inner of [
      checksummed('gh' + 'p_'),
      known.secrets[0]!.slice(3, 15),
      Buffer.from('a secret hidden in base64 text').toString('base64'),
      'a%41b',
      'x\\x41y',
      'x\\u0041y',
      'https://example.com/',
      'no\u00a0break',
    ]) {
      const b = Buffer.from(`${filler.repeat(50)}${inner} ${filler.repeat(50)}`, 'latin1');
      expect(quiet(b), inner).toBe(false);
    }
  });

  it('clears non-ASCII text unless it holds a char the NFKC view changes, also when a UTF-8 char spans the carried text', () => {
    const filler = 'lorem ipsum dolor sit amet ';
    const utf8 = (s: string): Buffer => Buffer.from(`${filler.repeat(20)}${s} ${filler.repeat(20)}`, 'utf8');
    // One char per byte (latin1): an accented letter is not suspect, a no-break space is (above).
    expect(quiet(Buffer.from(`${filler}caf\u00e9 ${filler}`, 'latin1'))).toBe(true);
    for (const ok of ['caf\u00e9', '\u2014 \u201cquoted\u201d \u2019', '\u4e2d\u6587', '\u{1f600}']) expect(quiet(utf8(ok), '', true), ok).toBe(true);
    for (const bad of ['zero\u200bwidth', 'no\u00a0break', 'long \u017f', '\ufb01', '\u{1fbf7}']) expect(quiet(utf8(bad), '', true), bad).toBe(false);
    // U+200B is E2 80 8B: its first two bytes end the carried text, as a Buffer or a string.
    const zw = Buffer.from('\u200b', 'utf8');
    const rest = Buffer.concat([zw.subarray(2), Buffer.from(` ${filler}`)]);
    expect(quiet(rest, Buffer.concat([Buffer.from(filler), zw.subarray(0, 2)]), true)).toBe(false);
    expect(quiet(rest, `${filler}${zw.subarray(0, 2).toString('latin1')}`, true)).toBe(false);
    // The same bytes after an em dash (E2 80 94) decode to no suspect char.
    const dash = Buffer.from('\u2014', 'utf8');
    expect(quiet(Buffer.concat([dash.subarray(2), Buffer.from(` ${filler}`)]), Buffer.concat([Buffer.from(filler), dash.subarray(0, 2)]), true)).toBe(true);
  });

  it('does not clear a chunk whose infix is split from the carried text', () => {
    expect(quiet(Buffer.from('//example.com/ lorem ipsum', 'latin1'), 'see https:')).toBe(false);
    expect(quiet(Buffer.from('//example.com/ lorem ipsum', 'latin1'), 'see https')).toBe(true);
    expect(quiet(Buffer.from('x41 lorem ipsum', 'latin1'), 'see \\')).toBe(false);
    expect(quiet(Buffer.from('n lorem ipsum', 'latin1'), 'see \\')).toBe(true);
  });
});
