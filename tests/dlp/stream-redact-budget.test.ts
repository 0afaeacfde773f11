import { describe, expect, it } from 'vitest';
import { createScanner, createStreamScanner, DlpBudgetError, type Finding } from '../../src/dlp/index.js';
import { checksummed, rnd } from './fixtures.js';

describe('StreamScanner', () => {
  it('finds tokens split across chunk boundaries, each once, with absolute positions', () => {
    const a = checksummed('gh' + 'p_');
    const secret = `s3cr3t-${rnd(30)}`;
    const filler = 'lorem ipsum dolor sit amet\n'.repeat(40);
    const text = `${filler}token ${a} and\n${filler}key=${secret};\n${filler}`;
    const whole = createScanner({ detectors: ['token_patterns', 'known_secrets'], knownSecrets: [secret] }).scan(text);
    expect(whole.map((f) => f.rule)).toEqual(['github-pat', 'known-secret']);
    for (const size of [1, 7, 64, 333]) {
      const stream = createStreamScanner({ detectors: ['token_patterns', 'known_secrets'], knownSecrets: [secret], windowChars: 512 });
      const found: Finding[] = [];
      for (let i = 0; i < text.length; i += size) found.push(...stream.push(text.slice(i, i + size)));
      found.push(...stream.end());
      expect(found.map((f) => f.rule), `chunk size ${size}`).toEqual(['github-pat', 'known-secret']);
      expect(found[0]!.start).toBe(whole[0]!.start);
      expect(found[0]!.end).toBe(whole[0]!.end);
      expect([found[0]!.line, found[0]!.column]).toEqual([whole[0]!.line, whole[0]!.column]);
      expect(found[1]!.line).toBe(whole[1]!.line);
    }
  });

  it('with settle, reports each split match once, whole, however small the chunks', () => {
    const a = checksummed('gh' + 'p_');
    const secret = `s3cr3t-${rnd(30)}`;
    const filler = 'lorem ipsum dolor sit amet\n'.repeat(40);
    const text = `${filler}token ${a} and\n${filler}key=${secret};\n${filler}${secret}`;
    const whole = createScanner({ detectors: ['token_patterns', 'known_secrets'], knownSecrets: [secret] }).scan(text);
    expect(whole.map((f) => [f.rule, f.start, f.end])).toHaveLength(3);
    for (const size of [1, 5, 64, 5000]) {
      const stream = createStreamScanner({ detectors: ['token_patterns', 'known_secrets'], knownSecrets: [secret], windowChars: 512, settle: true });
      const found: Finding[] = [];
      for (let i = 0; i < text.length; i += size) found.push(...stream.push(text.slice(i, i + size)));
      found.push(...stream.end());
      expect(found.map((f) => [f.rule, f.start, f.end]), `chunk size ${size}`).toEqual(whole.map((f) => [f.rule, f.start, f.end]));
    }
  });

  it('finds the same things resuming the pass as scanning each text afresh', () => {
    // Disguised and encoded forms near chunk ends exercise what the resumed pass carries over.
    const b64 = Buffer.from(`token=${checksummed('gh' + 'o_')}`).toString('base64');
    const text = `${'pad '.repeat(300)}x ${b64} y ${checksummed('gh' + 'p_').split('').join('\u200b')} ${'z'.repeat(40)} ${'w '.repeat(500)}`;
    const fresh = createScanner({ detectors: ['token_patterns'] }).scan(text).map((f) => f.rule);
    expect(fresh.sort()).toEqual(['github-oauth', 'github-pat']);
    for (const size of [3, 50, 777]) {
      const stream = createStreamScanner({ detectors: ['token_patterns'], windowChars: 4096 });
      const rules: string[] = [];
      for (let i = 0; i < text.length; i += size) rules.push(...stream.push(text.slice(i, i + size)).map((f) => f.rule));
      rules.push(...stream.end().map((f) => f.rule));
      expect(rules.sort(), `chunk size ${size}`).toEqual([...fresh].sort());
    }
  });

  it('keeps only a bounded carry-over window', () => {
    const stream = createStreamScanner({ detectors: ['token_patterns'], windowChars: 300 });
    // 2 MB through the stream without findings; each push only rescans carry + chunk.
    for (let i = 0; i < 200; i++) expect(stream.push('x'.repeat(10_000))).toEqual([]);
    const t = checksummed('gh' + 'p_');
    expect(stream.push(` ${t.slice(0, 10)}`)).toEqual([]);
    expect(stream.push(`${t.slice(10)} `).map((f) => f.start)).toEqual([2_000_001]);
  });
});

describe('redact', () => {
  it('replaces blocking findings, re-scans and returns clean text', () => {
    const secret = `pw-${rnd(30)}`;
    const s = createScanner({ detectors: ['token_patterns', 'known_secrets'], knownSecrets: [secret] });
    const token = checksummed('gh' + 'p_');
    const text = `a=${token}\nb=${Buffer.from(secret).toString('base64')}\nc=ok`;
    const { text: cleaned, findings } = s.redact(text);
    expect(findings).toEqual([]);
    expect(cleaned).toContain('[REDACTED:github-pat]');
    expect(cleaned).toContain('[REDACTED:known-secret]');
    expect(cleaned).not.toContain(token);
    expect(cleaned.endsWith('c=ok')).toBe(true);
  });
});

describe('time budget', () => {
  it('throws DlpBudgetError instead of running long', () => {
    const s = createScanner({ detectors: ['token_patterns', 'known_secrets'], knownSecrets: [rnd(40)], timeBudgetMs: 1 });
    // Many anchors and encoded-looking runs: lots of work per byte.
    const nasty = `${'sk-ant-' + 'a'.repeat(70) + '" + "'}`.repeat(20_000) + Buffer.from('x'.repeat(3_000_000)).toString('base64');
    expect(() => s.scan(nasty)).toThrow(DlpBudgetError);
  });
  it('finishes normal input well within the default budget', () => {
    const s = createScanner({ detectors: ['token_patterns', 'known_secrets'], knownSecrets: [rnd(40)] });
    expect(s.scan('hello world\n'.repeat(10_000))).toEqual([]);
  });
});
