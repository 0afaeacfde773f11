import { describe, expect, it } from 'vitest';
import { createScanner } from '../../src/dlp/index.js';
import { checksummed, rnd } from './fixtures.js';

const scanner = createScanner({ detectors: ['token_patterns'] });
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const ant = (): string => ['sk-', 'ant-', 'api03-', rnd(93), 'AA'].join('');

describe('token_patterns on decoded views', () => {
  const token = checksummed('gh' + 'p_');
  const cases: [string, string, string][] = [
    ['base64', `{"data":"${b64(`token=${token}`)}"}`, 'base64'],
    ['base64url', Buffer.from(`~~${token}??`).toString('base64url'), 'base64'],
    ['nested base64', b64(b64(`t ${token}`)), 'base64/base64'],
    ['url-encoded', `/search?q=${[...token].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('')}`, 'url'],
    ['hex', Buffer.from(`t=${token}`).toString('hex'), 'hex'],
    ['\\u escapes', [...token].map((c) => `\\u00${c.charCodeAt(0).toString(16)}`).join(''), 'escape'],
    ['zero-width chars inside', token.split('').join('\u200b'), 'nfkc'],
    ['fullwidth letters', [...token].map((c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join(''), 'nfkc'],
    ['string concatenation', `const k = "${token.slice(0, 12)}" + "${token.slice(12)}";`, 'joined'],
    ['broken over lines', `${token.slice(0, 20)}\n${token.slice(20)}\n`, 'joined'],
  ];
  for (const [name, text, view] of cases) {
    it(`finds a GitHub token: ${name}`, () => {
      const found = scanner.scan(text);
      expect(found.map((f) => `${f.rule}@${f.view}`)).toEqual([`github-pat@${view}`]);
      expect(found[0]!.masked).toBe('ghp_****');
      expect(found[0]!.end).toBeLessThanOrEqual(text.length);
    });
  }

  it('re-joins a concatenated Anthropic key', () => {
    const key = ant();
    const text = `headers["x-api-key"] = "${key.slice(0, 7)}" + "${key.slice(7, 60)}" +\n    "${key.slice(60)}"`;
    expect(scanner.scan(text).map((f) => `${f.rule}@${f.view}`)).toEqual(['anthropic-api-key@joined']);
  });

  it('ignores base64 of binary data and of clean text', () => {
    expect(scanner.scan(b64('just a normal sentence with nothing secret in it at all'))).toEqual([]);
    expect(scanner.scan(Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 73 + 11) % 256)).toString('base64'))).toEqual([]);
  });
});
