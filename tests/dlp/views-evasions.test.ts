// Evasions the decoded views undo (src/dlp/views.ts, deflate.ts, tokens.ts):
// compressed-then-base64 payloads without any header saying so, tokens
// written backwards, and tokens split across string literals or lines; and
// the look-alikes each view must leave alone.
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createScanner, createStreamScanner } from '../../src/dlp/index.js';
import { compressedKind } from '../../src/dlp/deflate.js';
import { HEX, b64, checksummed, positives, rnd } from './fixtures.js';

const scanner = createScanner({ detectors: ['token_patterns'] });
const found = (text: string): string[] =>
  scanner
    .scan(text)
    .filter((f) => f.severity === 'block')
    .map((f) => `${f.rule}@${f.view}`);

const env = (line: string): Buffer => Buffer.from(`NODE_ENV=production\nPORT=8080\n${line}\nLOG_LEVEL=info\n`);

describe('compressed payloads, base64 without a header', () => {
  const token = checksummed(['gh', 'p_'].join(''));
  const ddKey = rnd(32, HEX);
  const cases: [string, (b: Buffer) => Buffer, string][] = [
    ['gzip', gzipSync, 'gzip'],
    ['zlib', (b) => deflateSync(b), 'zlib'],
    ['raw deflate', (b) => deflateRawSync(b), 'deflate'],
  ];
  for (const [name, compress, view] of cases) {
    for (const enc of ['base64', 'base64url'] as const) {
      it(`finds a token and a keyword-anchored key in ${name} + ${enc}`, () => {
        expect(found(`echo ${compress(env(`GITHUB_TOKEN=${token}`)).toString(enc)} | base64 -d | gunzip`)).toEqual([`github-pat@${view}`]);
        expect(found(`{"state": "${compress(env(`DD_API_KEY=${ddKey}`)).toString(enc)}"}`)).toEqual([`datadog-api-key@${view}`]);
      });
    }
  }

  it('finds a compressed payload at the very end of a text and in a stream', () => {
    const blob = deflateRawSync(env(`GITHUB_TOKEN=${token}`)).toString('base64');
    expect(found(`blob: ${blob}`)).toEqual(['github-pat@deflate']);
    const s = createStreamScanner({ detectors: ['token_patterns'], windowChars: 4096 });
    const text = `cache:\n  blob: ${blob}\n`;
    const rules = [];
    for (let i = 0; i < text.length; i += 13) rules.push(...s.pushBytes(Buffer.from(text.slice(i, i + 13), 'latin1')).map((f) => f.rule));
    rules.push(...s.end().map((f) => f.rule));
    expect(rules).toEqual(['github-pat']);
  });

  it('leaves base64 of random bytes, images, hashes and compressed clean text alone', () => {
    const negatives = [
      `data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA${b64(400)}`,
      `integrity: sha512-${b64(64)}`,
      `secure: "${b64(256)}"`,
      `blob: ${gzipSync(Buffer.from('just some log lines\nnothing secret here\n'.repeat(20))).toString('base64')}`,
      `blob: ${deflateRawSync(Buffer.from('{"user":"alice","items":[1,2,3]}')).toString('base64')}`,
      Array.from({ length: 40 }, () => b64(48)).join('\n'),
    ];
    for (const text of negatives) expect(found(text), text.slice(0, 60)).toEqual([]);
  });

  it('asks zlib only about runs whose first block header and symbols hold together', () => {
    // Random bytes: how many pass the plausibility check that guards zlib (each failed zlib call costs ~140 µs).
    let pass = 0;
    for (let i = 0; i < 4000; i++) if (compressedKind(Buffer.from(b64(40 + (i % 200)), 'base64'))) pass++;
    expect(pass).toBeLessThan(4000 * 0.01);
    expect(compressedKind(deflateRawSync(Buffer.from('API_KEY=abc\n')))).toBe('deflate');
    expect(compressedKind(deflateSync(Buffer.from('API_KEY=abc\n')))).toBe('zlib');
    expect(compressedKind(gzipSync(Buffer.from('API_KEY=abc\n')))).toBe('gzip');
  });
});

describe('tokens written backwards', () => {
  const rev = (s: string): string => [...s].reverse().join('');
  const samples = positives();
  const names = ['github-pat', 'anthropic-api-key', 'slack-token', 'aws-access-key-id', 'stripe-key', 'gitlab-token', 'npm-token', 'openai-project-key'];
  for (const rule of names) {
    it(`finds ${rule} reversed, in code and in a shell pipe`, () => {
      const v = samples[rule]!;
      expect(found(`const t = "${rev(v)}".split("").reverse().join("");`)).toEqual([`${rule}@reversed`]);
      expect(found(`export TOKEN=$(echo '${rev(v)}' | rev)`)).toEqual([`${rule}@reversed`]);
    });
  }

  it('points at the reversed text', () => {
    const v = samples['github-pat']!;
    const text = `x = "${rev(v)}"[::-1]`;
    const [f] = scanner.scan(text);
    expect(text.slice(f!.start, f!.end)).toBe(rev(v));
  });

  it('leaves words that end like a reversed prefix alone', () => {
    // "…phg", "…bxox", "…AIKA" read backwards begin ghp_, xoxb, AKIA, without a token after them.
    expect(found('the graph "phg" and "_phg" and "bxox-" and "AIKA" and "-tna-ks" and "reverse_phg"')).toEqual([]);
  });
});

describe('tokens split across string literals and lines', () => {
  const token = checksummed(['gh', 'p_'].join(''));
  const ant = positives()['anthropic-api-key']!;
  const cases: [string, string][] = [
    ['split inside the prefix', `const t = "${token.slice(0, 2)}" + "${token.slice(2)}";`],
    ['split right after the prefix', `const t = "${token.slice(0, 4)}" + "${token.slice(4)}";`],
    ['split inside a dashed prefix', `k = '${ant.slice(0, 5)}' + '${ant.slice(5, 40)}' + '${ant.slice(40)}'`],
    ['Python implicit concatenation', `TOKEN = ("${token.slice(0, 9)}"\n         "${token.slice(9, 25)}"\n         "${token.slice(25)}")`],
    ['an array joined', `const t = ['${token.slice(0, 3)}', '${token.slice(3, 20)}', '${token.slice(20)}'].join('');`],
    ['shell adjacent quotes', `TOKEN='${token.slice(0, 12)}''${token.slice(12)}'`],
    ['a shell line continuation', `export TOKEN="${token.slice(0, 15)}\\\n${token.slice(15)}"`],
    ['wrapped in a chat message', `Here it is, it wrapped:\n${token.slice(0, 20)}\n${token.slice(20)}\n`],
  ];
  for (const [name, text] of cases) {
    it(`finds it: ${name}`, () => {
      expect(found(text).map((f) => f.split('@')[0])).toEqual([name === 'split inside a dashed prefix' ? 'anthropic-api-key' : 'github-pat']);
    });
  }

  it('joins a keyword-anchored value split across literals', () => {
    const key = rnd(40);
    expect(found(`API_KEY = "${key.slice(0, 10)}" + "${key.slice(10, 30)}" +\n  "${key.slice(30)}"`)).toEqual(['generic-api-key@joined']);
  });

  it('leaves concatenations that make no token alone', () => {
    const negatives = [
      'const s = "gh" + "ost";',
      'const url = "https://" + host + "/api";',
      'msg = ("sk" "ip this")',
      `const t = "${token.slice(0, 4)}" + "short";`,
      'TOKEN = "do" + "nothing"',
    ];
    for (const text of negatives) expect(found(text), text).toEqual([]);
  });
});
