// Published example keys and placeholders (src/dlp/examples.ts, judge.ts) are
// an allowance every consumer shares: the scanner reports them as warnings,
// which neither block nor hold anything, in block scans, streams and
// `bot-bottle scan` alike; a real-shaped key next to them still blocks.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createScanner, createStreamScanner } from '../../src/dlp/index.js';
import { UPPER32, rnd } from './fixtures.js';

const j = (...p: string[]): string => p.join('');
const AWS_ID = j('AKIAIOSFODNN7', 'EXAMPLE');
const AWS_SECRET = j('wJalrXUtnFEMI/K7MDENG/bPxRfiCY', 'EXAMPLEKEY');
const docs = [
  '[default]',
  `aws_access_key_id = ${AWS_ID}`,
  `aws_secret_access_key = ${AWS_SECRET}`,
  `SLACK_BOT_TOKEN=${j('xoxb', '-your-bot-token')}`,
  `OPENAI_API_KEY=sk-...xxxx`,
  `GITHUB_TOKEN=<your-token>`,
  'DB_PASSWORD=${DB_PASSWORD}',
  'password: changeme',
  `curl https://api.stripe.com/v1/charges -u ${j('sk_test_', '4eC39HqLyjWDarjtT1zdp7dc')}:`,
  `STRIPE_KEY=${j('sk_live_', 'x'.repeat(24))}`,
].join('\n');

describe('the allowance for published examples and placeholders', () => {
  it('reports documented example keys as warnings, and nothing for placeholders and references', () => {
    const found = createScanner({ detectors: ['token_patterns'] }).scan(docs);
    expect(found.filter((f) => f.severity === 'block')).toEqual([]);
    // Still seen (an audit log shows them), only not blocking.
    expect(found.map((f) => f.rule)).toEqual(expect.arrayContaining(['aws-access-key-id', 'aws-secret-access-key', 'stripe-key']));
  });

  it('is the same in a stream (egress bodies and responses)', () => {
    const s = createStreamScanner({ detectors: ['token_patterns'], windowChars: 512, settle: true });
    const found = [];
    for (let i = 0; i < docs.length; i += 37) found.push(...s.pushBytes(Buffer.from(docs.slice(i, i + 37), 'latin1')));
    found.push(...s.end());
    expect(found.filter((f) => f.severity === 'block')).toEqual([]);
  });

  it('never covers a real-shaped key beside the examples', () => {
    const real = j('AK', 'IA', rnd(16, UPPER32));
    const found = createScanner({ detectors: ['token_patterns'] }).scan(`${docs}\naws_access_key_id = ${real}\n`);
    expect(found.filter((f) => f.severity === 'block').map((f) => f.rule)).toEqual(['aws-access-key-id']);
  });

  describe('bot-bottle scan', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dlp-allowance-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const run = (file: string): { code: number | null; stdout: string } => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'scan', file], {
        cwd: join(import.meta.dirname, '..', '..'),
        encoding: 'utf8',
        env: { PATH: process.env['PATH'] ?? '', HOME: dir },
        timeout: 20_000,
      });
      return { code: r.status, stdout: r.stdout };
    };

    it('exits 0 on a README full of examples, and prints them as warnings', () => {
      const file = join(dir, 'README.md');
      writeFileSync(file, docs);
      const r = run(file);
      expect(r.code).toBe(0);
      // (How much of a value a mask keeps is not this test's business.)
      expect(r.stdout).toMatch(/ aws-access-key-id \S*\*\*\*\* \(warning\)\n/);
      expect(r.stdout).not.toContain(AWS_SECRET);
    });
  });
});
