import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createScanner, exampleCredential } from '../../src/dlp/index.js';

const b64url = (s: string): string => Buffer.from(s).toString('base64url');
function jwt(claims: object, secret: string): string {
  const signed = `${b64url('{"alg":"HS256","typ":"JWT"}')}.${b64url(JSON.stringify(claims))}`;
  return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`;
}

/** What the token scanner flags in `text`, with the excuse (if any) for each value. */
function judge(text: string): { rule: string; why: string | undefined }[] {
  return createScanner({ detectors: ['token_patterns'] })
    .scan(text)
    .map((f) => ({ rule: f.rule, why: exampleCredential(f.rule, text.slice(f.start, f.end)) }));
}

describe('published examples, test keys and placeholders (src/dlp/examples.ts)', () => {
  it('excuses the AWS documentation keys, Stripe test keys, jwt.io samples and placeholders the scanner flags', () => {
    const cases = [
      ['AKIAIOSFODNN7', 'EXAMPLE'].join(''),
      `aws_secret_access_key = ${['wJalrXUtnFEMI/K7MDENG/bPxRfiCY', 'EXAMPLEKEY'].join('')}`,
      ['sk', 'test', '4eC39HqLyjWDarjtT1zdp7dc'].join('_'),
      jwt({ sub: '1234567890', name: 'John Doe', iat: 1516239022 }, 'your-256-bit-secret'),
      jwt({ sub: '1234567890', name: 'John Doe', admin: true, iat: 1516239022 }, 'a-string-secret-at-least-256-bits-long'),
      ['sk', 'live', 'x'.repeat(24)].join('_'),
      ['xoxb', 'your', 'bot', 'token', 'here'].join('-'),
    ];
    for (const text of cases) {
      const found = judge(text);
      expect(found.length, text).toBeGreaterThan(0);
      for (const f of found) expect(f.why, `${f.rule} in ${text}`).toBeDefined();
    }
  });

  it('never excuses a real-shaped secret, even with an example marker or a placeholder run added to it', () => {
    const real = ['AKIA', 'Q3VZ7XK2PLM4RT6N'].join('');
    const live = ['sk', 'live', '51HqLyjWDarjtT1zdp7dcQ3VZ7XK2PLM4RT6N'].join('_');
    const slack = ['xoxb', '1234567890', 'Zq8Lk2Vb7Rt4Yw9Mn3Px6Sd'].join('-');
    const cases = [
      real,
      live,
      `${live}EXAMPLE`,
      `${live}xxxxxxxxxxxx`,
      `${slack}-your-token-here`,
      slack,
      // A JWT that is not signed with a published sample secret.
      jwt({ sub: '1234567890', name: 'John Doe', iat: 1516239022 }, 'a private signing key of this service'),
    ];
    for (const text of cases) {
      const found = judge(text);
      expect(found.length, text).toBeGreaterThan(0);
      expect(
        found.some((f) => f.why === undefined),
        text,
      ).toBe(true);
    }
  });

  it('reads JSON escapes in the matched value', () => {
    expect(exampleCredential('aws-secret-access-key', 'wJalrXUtnFEMI\\/K7MDENG\\/bPxRfiCYEXAMPLEKEY')).toMatch(/AWS/);
  });
});
