// The single pass (src/dlp/core.ts) hands rare events to its caller through a
// bounded buffer, works in 256K-char blocks and gates word runs by their first
// three chars: these tests hit each of those edges.
import { describe, expect, it } from 'vitest';
import { createScanner, TOKEN_RULES } from '../../src/dlp/index.js';
import { coreScan } from '../../src/dlp/core.js';
import { TokenMatcher } from '../../src/dlp/tokens.js';
import { checksummed, positives, rnd } from './fixtures.js';

const BLOCK = 1 << 18;
const secret = `kn-${rnd(37)}`;
const scanner = createScanner({ detectors: ['token_patterns', 'known_secrets'], knownSecrets: [secret] });
const rules = (text: string): string[] => scanner.scan(text).map((f) => f.rule);

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
      expect(coreScan(text, null, null, Infinity).encoded, JSON.stringify(text)).toEqual(expected);
    }
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
