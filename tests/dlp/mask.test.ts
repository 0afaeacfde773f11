import { describe, expect, it } from 'vitest';
import { createScanner } from '../../src/dlp/index.js';
import { checksummed } from './fixtures.js';

/** Issue 13 finding 10: a finding's `masked` never shows characters of a secret, only a fixed vendor prefix. */
describe('masked values', () => {
  const known = ['Kq7', 'vZ2m', '-known-', 'slot-', 'value-', '90210'].join('');
  const scanner = createScanner({ detectors: ['token_patterns', 'known_secrets', 'entropy'], knownSecrets: [known] });

  it('a known secret is `****` in every form it is found in', () => {
    const hex = Buffer.from(known).toString('hex');
    for (const text of [`x ${known} y`, `hex ${hex} end`, `b64 ${Buffer.from(known).toString('base64')} end`]) {
      const found = scanner.scan(text).filter((f) => f.detector === 'known_secrets');
      expect(found.length, text).toBeGreaterThan(0);
      for (const f of found) expect(f.masked, text).toBe('****');
    }
  });

  it('an unknown token keeps only its vendor prefix; the same token as a known secret keeps nothing', () => {
    const gh = checksummed('gh' + 'p_');
    expect(scanner.scan(`t=${gh}`).filter((f) => f.detector === 'token_patterns').map((f) => f.masked)).toEqual(['ghp_****']);
    const both = createScanner({ detectors: ['token_patterns', 'known_secrets'], knownSecrets: [gh] }).scan(`t=${gh}`);
    expect(both.map((f) => f.rule).sort()).toEqual(['github-pat', 'known-secret']);
    expect(both.map((f) => f.masked)).toEqual(['****', '****']);
  });

  it('a high-entropy run shows no characters', () => {
    const run = 'q8Zr2LwX0vT5mNc7YbK1pHs4JdG9fA3e';
    const found = scanner.scan(`blob ${run} end`).filter((f) => f.detector === 'entropy');
    expect(found.length).toBe(1);
    expect(found[0]!.masked).toBe('****');
  });
});
