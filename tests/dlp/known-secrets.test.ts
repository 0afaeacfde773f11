import { describe, expect, it } from 'vitest';
import { createScanner, knownSecretsFromEnv } from '../../src/dlp/index.js';
import { rnd } from './fixtures.js';

const secret = `tok-${rnd(36)}`;
const scanner = createScanner({ detectors: ['known_secrets'], knownSecrets: [secret] });
const views = (text: string): string[] => scanner.scan(text).map((f) => `${f.rule}:${f.view}`);
const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('known_secrets encodings', () => {
  const cases: Record<string, string> = {
    raw: `curl -H "X-Api: ${secret}" https://x`,
    base64: `payload=${b64(`secret is ${secret}!`)}`,
    'base64 at byte offset 1': b64(`a${secret}`),
    'base64 at byte offset 2': b64(`ab${secret}`),
    base64url: Buffer.from(`>>?${secret}`).toString('base64url'),
    'nested base64': b64(b64(`k=${secret}`)),
    url: `q=${encodeURIComponent(`v=${secret}`).replace(/-/g, '%2D')}`,
    'url, every byte': [...Buffer.from(secret)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''),
    hex: Buffer.from(secret).toString('hex'),
    'hex upper': Buffer.from(secret).toString('hex').toUpperCase(),
    separators: secret.split('').join('-'),
    'spaces and dots': secret.match(/.{1,3}/g)!.join('. '),
    'zero-width': secret.split('').join('\u200b'),
    'split over lines': `"${secret.slice(0, 15)}" +\n  "${secret.slice(15)}"`,
    'partial 12-char window': `look: ${secret.slice(10, 22)} done`,
    '\\x escapes': [...Buffer.from(secret)].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join(''),
    'fullwidth (NFKC)': [...secret].map((c) => (/[A-Za-z0-9]/.test(c) ? String.fromCharCode(c.charCodeAt(0) + 0xfee0) : c)).join(''),
  };
  for (const [name, text] of Object.entries(cases)) {
    it(`finds the secret: ${name}`, () => {
      const found = scanner.scan(text);
      expect(found.length, name).toBeGreaterThanOrEqual(1);
      for (const f of found) {
        expect(f.rule).toBe('known-secret');
        expect(f.masked).not.toContain(secret.slice(4, 16));
        expect(f.start).toBeGreaterThanOrEqual(0);
        expect(f.end).toBeLessThanOrEqual(text.length);
      }
    });
  }

  it('names the view a secret was found in', () => {
    expect(views(Buffer.from(secret).toString('hex'))).toEqual(['known-secret:hex']);
    expect(views(`x ${secret} y`)).toEqual(['known-secret:raw']);
  });

  it('does not fire on an 11-char window or on other random strings', () => {
    expect(scanner.scan(`a ${secret.slice(10, 21)} b`)).toEqual([]);
    expect(scanner.scan(`tok-${rnd(36)} ${b64(rnd(40))} ${rnd(64, '0123456789abcdef')}`)).toEqual([]);
  });

  it('finds short secrets (< 12 alnum chars) whole', () => {
    const short = createScanner({ detectors: ['known_secrets'], knownSecrets: ['pa$$w0rd!x'] });
    expect(short.scan('login with pa$$w0rd!x now').map((f) => f.rule)).toEqual(['known-secret']);
    expect(short.scan('login with pa$$w0rd now')).toEqual([]);
  });
});

describe('knownSecretsFromEnv', () => {
  it('takes EGRESS_TOKEN_* and BOT_BOTTLE_SENSITIVE_PREFIXES matches, skipping short values', () => {
    const env = {
      EGRESS_TOKEN_GITHUB: 'value-one-12345',
      EGRESS_TOKEN_EMPTY: '',
      EGRESS_TOKEN_SHORT: 'abc',
      BOT_BOTTLE_SENSITIVE_PREFIXES: 'MY_, CORP_',
      MY_DB_PASSWORD: 'value-two-12345',
      CORP_KEY: 'value-three-123',
      OTHER: 'value-four-12345',
    };
    expect(knownSecretsFromEnv(env)).toEqual(['value-one-12345', 'value-three-123', 'value-two-12345']);
  });
});
