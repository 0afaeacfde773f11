// The stream scanners (egress bodies as bytes, responses as strings) find the
// new kinds of findings as a whole-text scan does, however the text is cut:
// keyword-anchored values (a key name in one chunk, its value in the next),
// compressed payloads, reversed and split tokens; and the byte path
// (pushBytes, which skips chunks the pass alone can clear) reports exactly
// what the string path reports.
import { deflateRawSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createScanner, createStreamScanner, type Finding } from '../../src/dlp/index.js';
import { HEX, checksummed, rnd } from './fixtures.js';

const DET = ['token_patterns', 'known_secrets'] as const;
const key = (fs: Finding[]): string[] => fs.map((f) => `${f.rule}@${f.start}-${f.end}:${f.line}:${f.column}`);

function samples(): string[] {
  const gh = checksummed(['gh', 'p_'].join(''));
  const rev = (s: string): string => [...s].reverse().join('');
  return [
    `DD_API_KEY=${rnd(32, HEX)}\n`,
    `  "password": "${rnd(6)}!${rnd(6)}",\n`,
    `export VERCEL_TOKEN="${rnd(24)}"\n`,
    `curl -H "Authorization: Basic ${Buffer.from(`ci:${rnd(10)}#${rnd(4)}`).toString('base64')}" https://x\n`,
    `acme deploy --api-key ${rnd(40)} --region eu\n`,
    `{"content":"config:\\nTWILIO_AUTH_TOKEN=\\"${rnd(32, HEX)}\\"\\n"}\n`,
    `blob: ${gzipSync(Buffer.from(`PORT=1\nGITHUB_TOKEN=${gh}\n`)).toString('base64')}\n`,
    `blob: ${deflateRawSync(Buffer.from(`HEROKU_API_KEY=${rnd(8, HEX)}-${rnd(4, HEX)}-4${rnd(3, HEX)}-a${rnd(3, HEX)}-${rnd(12, HEX)}\n`)).toString('base64')}\n`,
    `const t = "${rev(gh)}".split("").reverse().join("");\n`,
    `const t = "${gh.slice(0, 2)}" + "${gh.slice(2)}";\n`,
    `API_KEY = ("${gh.slice(0, 6)}x${rnd(12)}"\n  "${rnd(20)}")\n`,
  ];
}
const fillers = ['lorem ipsum dolor sit amet ', 'the token and the key were fine ', 'const token = scanner.getToken();\n', '{"role":"user","content":"refactor this"}\n', 'password policy: 12 chars\n'];

function stream(text: string, sizes: () => number, bytes: boolean, settle: boolean): Finding[] {
  const s = createStreamScanner({ detectors: DET, knownSecrets: [], windowChars: 1024, settle, utf8Bytes: bytes });
  const buf = Buffer.from(text, 'latin1');
  const out: Finding[] = [];
  for (let p = 0; p < buf.length; ) {
    const c = buf.subarray(p, p + sizes());
    p += c.length;
    out.push(...(bytes ? s.pushBytes(c) : s.push(c.toString('latin1'))));
  }
  return [...out, ...s.end()];
}

describe('streams and the new findings', () => {
  it('the byte path reports exactly what the string path reports', () => {
    const all = samples();
    let total = 0;
    for (let round = 0; round < 30; round++) {
      let text = '';
      for (let k = 0; k < 16; k++) text += (round + k) % 3 === 0 ? all[(round + k) % all.length] : fillers[(round * 7 + k) % fillers.length]!.repeat(1 + (k % 3));
      const sizes = (): (() => number) => {
        let n = 0;
        return () => [1, 5, 17, 64, 200, 700, 3000][(n++ * 3 + round) % 7]!;
      };
      for (const settle of [false, true]) {
        const expected = key(stream(text, sizes(), false, settle));
        expect(key(stream(text, sizes(), true, settle)), `round ${round} settle ${settle}`).toEqual(expected);
        total += expected.length;
      }
    }
    expect(total).toBeGreaterThan(100);
  });

  it('finds what a whole-text scan finds, with key names and values cut anywhere', () => {
    const scanner = createScanner({ detectors: DET });
    for (const sample of samples()) {
      const text = `${fillers[0]!.repeat(3)}${sample}${fillers[1]!.repeat(2)}`;
      const whole = scanner.scan(text).map((f) => f.rule);
      expect(whole.length, sample).toBeGreaterThan(0);
      for (const size of [3, 11, 64]) {
        for (const bytes of [false, true]) {
          const got = stream(text, () => size, bytes, true).map((f) => f.rule);
          expect(got.sort(), `${size} ${bytes ? 'bytes' : 'string'}: ${sample}`).toEqual([...whole].sort());
        }
      }
    }
  });
});
