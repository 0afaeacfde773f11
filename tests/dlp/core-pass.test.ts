// The single pass (src/dlp/core.ts and its WebAssembly loop) hands rare events
// to its caller through a bounded buffer, copies text into the module 128K
// chars at a time and gates word runs by their first three chars: these tests
// hit each of those edges.
import { describe, expect, it } from 'vitest';
import { createScanner, TOKEN_RULES } from '../../src/dlp/index.js';
import { createHash } from 'node:crypto';
import { coreScan } from '../../src/dlp/core.js';
import { buildViews } from '../../src/dlp/views.js';
import { TokenMatcher } from '../../src/dlp/tokens.js';
import { checksummed, positives, rnd } from './fixtures.js';

/** The module's text segment (TEXT_UNITS in src/dlp/wasm/pass.ts). */
const BLOCK = 1 << 17;
const secret = `kn-${rnd(37)}`;
const scanner = createScanner({ detectors: ['token_patterns', 'known_secrets'], knownSecrets: [secret] });
const rules = (text: string): string[] => scanner.scan(text).map((f) => f.rule);
/**
 * A fixed random-looking blob. Truly random bytes fail the looks-encoded test
 * only with high probability (about 1 in 600 pass it by chance), so a fresh
 * blob per run made the test flaky.
 */
const randomBytesB64 = (): string => {
  const parts: Buffer[] = [];
  for (let i = 0; i < 5; i++) parts.push(createHash('sha512').update(`core-pass noise ${i}`).digest());
  return Buffer.concat(parts).subarray(0, 300).toString('base64').replace(/[+/=]/g, 'A');
};

describe('core pass edges', () => {
  it('finds a token at the very start and at the very end of the text', () => {
    const t = checksummed('gh' + 'p_');
    expect(rules(t)).toEqual(['github-pat']);
    expect(rules(`x ${t}`)).toEqual(['github-pat']);
    expect(rules(`${t} x`)).toEqual(['github-pat']);
  });

  it('finds every rule sample at the start of the text with nothing around it', () => {
    for (const [rule, sample] of Object.entries(positives())) {
      const found = scanner.scan(sample).map((f) => f.rule);
      // Samples with required context (e.g. `before`) carry it themselves.
      expect(found, rule).toContain(rule);
    }
  });

  it('finds tokens and known secrets straddling a block boundary', () => {
    for (const shift of [1, 5, 20, 39]) {
      const t = checksummed('gh' + 'p_');
      const pad = `${'word '.repeat(Math.ceil(BLOCK / 5)).slice(0, BLOCK - shift - 1)} `;
      const text = `${pad}${t} and ${'z '.repeat(10)}${pad.slice(0, BLOCK - 30 - shift)} ${secret} end`;
      const found = scanner.scan(text);
      expect(found.map((f) => f.rule), `shift ${shift}`).toEqual(['github-pat', 'known-secret']);
      expect(text.slice(found[0]!.start, found[0]!.end)).toBe(t);
    }
  });

  it('keeps every event when far more than one buffer-full arrive in one block', () => {
    // Each "us"/"co"/"AA" word start is an event; 30,000 of them overflow the 4096-entry buffer many times.
    const noise = 'us cohere AA mi SK '.repeat(6000);
    const t = checksummed('gh' + 'p_');
    const text = `${noise}${t} ${noise}${Buffer.from(`k=${secret}`).toString('base64')} ${noise}`;
    expect(rules(text)).toEqual(['github-pat', 'known-secret']);
  });

  it('reports base64/hex runs exactly like a /[A-Za-z0-9+/_-]{16,}/ scan, including one that ends the text', () => {
    const alphabet = 'ab+/_-01 .\n\u00e9';
    for (let round = 0; round < 20; round++) {
      const text = Array.from({ length: 40 }, (_, i) => rnd(1 + ((i * 7 + round) % 23), alphabet.slice(0, 6)) + (i % 3 === 0 ? ' ' : rnd(1, alphabet.slice(8)))).join('') + rnd(round + 1, 'AbC+');
      const expected: number[] = [];
      for (const m of text.matchAll(/[A-Za-z0-9+/_-]{16,}/g)) expected.push(m.index, m.index + m[0].length);
      expect(coreScan(text, null, null, Infinity, true).encoded, JSON.stringify(text)).toEqual(expected);
    }
  });

  it('without allRuns reports every run a view could decode, and drops identifiers and random blobs', () => {
    const b64 = (s: string): string => Buffer.from(s).toString('base64').replace(/=+$/, '');
    const hex = (s: string): string => Buffer.from(s).toString('hex');
    const decodable = [b64('the secret is here, encoded'), `xyz${b64('a path glued to the front of it')}`, hex('plain text in hex form'), b64('u').repeat(3) + b64('mixed alignment payload')];
    const noise = ['getSourceFileOfNodeWithCache', '0123456789abcdef0123456789abcdef', randomBytesB64(), 'abcdefghij0123456789'];
    const text = `${[...decodable, ...noise].join(' ')} end`;
    const spans = coreScan(text, null, null, Infinity).encoded;
    const got: string[] = [];
    for (let i = 0; i < spans.length; i += 2) got.push(text.slice(spans[i], spans[i + 1]));
    for (const d of decodable) expect(got).toContain(d);
    for (const n of noise) expect(got).not.toContain(n);
    // Views see the same decodable runs either way.
    const all = coreScan(text, null, null, Infinity, true);
    const some = coreScan(text, null, null, Infinity);
    expect(buildViews(text, some).map((v) => v.text)).toEqual(buildViews(text, all).map((v) => v.text));
  });

  it('keeps a run that started in an earlier segment, however it looks there', () => {
    const blob = Buffer.from('plain words that decode to printable text '.repeat(4000)).toString('base64');
    const text = `${'x '.repeat(BLOCK / 2 - 10)}${blob} tail`;
    const spans = coreScan(text, null, null, Infinity).encoded;
    expect(spans).toEqual([BLOCK - 20, BLOCK - 20 + blob.length]);
  });

  it('only looks for disguising chars when the text has non-ASCII chars, and then finds them', () => {
    expect(coreScan('plain ascii text', null, null, Infinity).suspect).toEqual([]);
    // Letters of other scripts are not suspicious; a no-break space and a zero-width space are.
    const text = `caf\u00e9\u00a0and \u200b here`;
    expect(coreScan(text, null, null, Infinity).suspect).toEqual([text.indexOf('\u00a0'), text.indexOf('\u200b')]);
    const t = checksummed('gh' + 'p_');
    expect(rules(`r\u00e9sum\u00e9: ${t.split('').join('\u200b')}`)).toEqual(['github-pat']);
  });
});

describe('word-run gating', () => {
  const m = new TokenMatcher();

  it('gates each anchor by its own word prefix, not its rule\u2019s shortest anchor', () => {
    // huggingface-token has anchors "hf_" and "api_org_": an "api" word needs 8 chars before its rule is tried.
    const key = ('a'.charCodeAt(0) << 7) | 'p'.charCodeAt(0);
    expect(m.keyGate[key]).toBe(8);
    // "hf_" re-joins split tokens, so its gate is only its own word prefix.
    expect(m.keyGate[('h'.charCodeAt(0) << 7) | 'f'.charCodeAt(0)]).toBe(3);
  });

  it('lets through exactly the third chars some anchor of the bucket can continue with', () => {
    const bucket = m.dispatch[('c'.charCodeAt(0) << 7) | 'o'.charCodeAt(0)]!;
    expect(m.thirdAllowed(bucket, 'h'.charCodeAt(0))).toBe(true); // cohere
    expect(m.thirdAllowed(bucket, 'n'.charCodeAt(0))).toBe(false); // const, console
    const one = m.dispatch['M'.charCodeAt(0) << 7 | 'a'.charCodeAt(0)]!; // discord-bot-token: one-char anchor "M"
    expect(m.thirdAllowed(one, 'x'.charCodeAt(0))).toBe(true);
  });

  it('has a word-char-first anchor for every anchored rule (the pass only sees word-run starts)', () => {
    for (const r of TOKEN_RULES) for (const a of r.anchors ?? []) expect(/^\w/.test(a), `${r.id}: ${a}`).toBe(true);
  });
});
