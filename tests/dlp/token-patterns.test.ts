import { describe, expect, it } from 'vitest';
import { TOKEN_RULES, createScanner } from '../../src/dlp/index.js';
import { HEX, checksummed, jwt, positives, rnd } from './fixtures.js';

const scanner = createScanner({ detectors: ['token_patterns'] });
const rulesFound = (text: string): string[] => scanner.scan(text).map((f) => f.rule);

describe('token_patterns positives', () => {
  const samples = positives();

  it('has a sample for every rule', () => {
    expect(Object.keys(samples).sort()).toEqual(TOKEN_RULES.map((r) => r.id).sort());
  });

  for (const [rule, sample] of Object.entries(samples)) {
    it(`finds ${rule} in context, with a masked value`, () => {
      const text = `config:\n  value: "${sample}"\n`;
      const found = scanner.scan(text).filter((f) => f.rule === rule);
      expect(found.length, `${rule} not found`).toBe(1);
      const f = found[0]!;
      expect(f.line).toBe(2);
      // Only a fixed vendor prefix (an anchor ending in _ - .) may precede the stars.
      const prefix = f.masked.slice(0, -4);
      expect(f.masked.endsWith('****')).toBe(true);
      if (prefix !== '') expect(TOKEN_RULES.find((r) => r.id === rule)!.anchors).toContain(prefix);
      expect(prefix).toMatch(/^(?:.{2,}[_.-])?$/);
    });
  }
});

describe('token_patterns negatives (look-alikes that must not fire)', () => {
  const negatives: Record<string, string> = {
    uuid: '550e8400-e29b-41d4-a716-446655440000 and 123e4567-e89b-12d3-a456-426614174000',
    'git sha': `commit ${rnd(40, HEX)} and ${rnd(40, HEX)}`,
    'lorem ipsum': 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore. Skip the sketch; key points: access tokens are secret.',
    'base64 of random bytes (an image)': `data:image/png;base64,${Buffer.from(rnd(3000)).toString('base64').replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) ^ 0x20))}`,
    'ghp_ with a bad checksum': `${checksummed('gh' + 'p_').slice(0, -1)}x`,
    'npm_ with a bad checksum': `${checksummed('np' + 'm_').slice(0, -2)}zz`,
    'AKIA too short / lowercase': `${'AK' + 'IA'}ABCDEF and ${'ak' + 'ia'}${rnd(16).toLowerCase()}`,
    'eyJ that is not a JWT': `${Buffer.from('{"foo":1}').toString('base64url')}.${rnd(20)}.${rnd(20)}`,
    'JWT-shaped without alg': `${Buffer.from('{"typ":"JWT"}').toString('base64url')}.${Buffer.from('{"a":1}').toString('base64url')}.${rnd(20)}`,
    'placeholder URL credentials': 'postgres://user:${DB_PASSWORD}@db/app https://user:password@example.com mysql://root:<pass>@host',
    'URL without credentials': 'https://example.com:8443/path?a=b@c and git@github.com:org/repo.git',
    'sk- words': 'sk-learn and skip-this and sk_live_ (incomplete) and the sketch-artist',
    'identifiers': 'createStreamScannerWithOptions internationalization_configuration_manager AKIAsomething',
    'PEM public key': '-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----',
    'certificate': '-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n-----END CERTIFICATE-----',
    'hex hashes': `sha256: ${rnd(64, HEX)} md5 ${rnd(32, HEX)}`,
  };
  for (const [name, text] of Object.entries(negatives)) {
    it(`stays quiet on ${name}`, () => {
      expect(rulesFound(text)).toEqual([]);
    });
  }
});

describe('structure validation', () => {
  it('accepts a JWT only when its header decodes to JSON with alg', () => {
    expect(rulesFound(`Authorization: Bearer ${jwt()}`)).toEqual(['jwt']);
  });
  it('finds several tokens with correct 1-based positions', () => {
    const a = checksummed('gh' + 'p_');
    const b = 'AK' + 'IA' + rnd(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567');
    const text = `first line\n  x=${a}\n${b} tail`;
    const found = scanner.scan(text);
    expect(found.map((f) => [f.rule, f.line, f.column])).toEqual([
      ['github-pat', 2, 5],
      ['aws-access-key-id', 3, 1],
    ]);
    expect(text.slice(found[0]!.start, found[0]!.end)).toBe(a);
  });
});
