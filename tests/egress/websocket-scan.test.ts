import { describe, expect, it } from 'vitest';
import { createScanner, createStreamScanner } from '../../src/dlp/index.js';
import { ClientFrameFilter, WsDlpError } from '../../src/sidecars/egress/websocket-scan.js';
import { WsCloseError } from '../../src/sidecars/egress/websocket-frames.js';
import { fakeGithubToken } from './support.js';
import { encodeFrame } from './websocket-support.js';

const filter = (max?: number) =>
  new ClientFrameFilter({
    stream: createStreamScanner({ detectors: ['token_patterns'] }),
    oneShot: createScanner({ detectors: ['token_patterns'] }),
    blocking: (f) => f.filter((x) => x.severity === 'block'),
    ...(max !== undefined ? { maxMessageBytes: max } : {}),
  });

describe('ClientFrameFilter', () => {
  it('reassembles frames delivered one byte at a time and releases the original bytes', () => {
    const f = filter();
    const frames = [encodeFrame(0x1, 'hello '.repeat(30)), encodeFrame(0x2, Buffer.alloc(70_000, 7)), encodeFrame(0x9, 'p')];
    const wire = Buffer.concat(frames);
    const out: Buffer[] = [];
    for (let i = 0; i < wire.length; i += 1 + (i % 977)) out.push(...f.push(wire.subarray(i, i + 1 + (i % 977))));
    expect(Buffer.concat(out).equals(wire)).toBe(true);
    expect(out.length).toBe(3);
  });

  it('holds fragments until the final one, and lets control frames pass in between', () => {
    const f = filter();
    expect(f.push(encodeFrame(0x1, 'part one ', { fin: false }))).toEqual([]);
    const ping = encodeFrame(0x9, 'x');
    expect(f.push(ping)).toEqual([ping]);
    expect(f.push(encodeFrame(0x0, 'part two')).length).toBe(2);
  });

  it('reads a finding back for the approval check, even split across fragments and after a long stream', () => {
    const allowed = fakeGithubToken('ws-allowed');
    const seen: Array<string | undefined> = [];
    const f = new ClientFrameFilter({
      stream: createStreamScanner({ detectors: ['token_patterns'] }),
      oneShot: createScanner({ detectors: ['token_patterns'] }),
      blocking: (found, rawOf) => found.filter((x) => (seen.push(rawOf(x)), x.severity === 'block' && rawOf(x) !== allowed)),
    });
    expect(f.push(encodeFrame(0x1, 'filler '.repeat(20_000))).length).toBe(1);
    expect(f.push(encodeFrame(0x1, `token ${allowed.slice(0, 10)}`, { fin: false }))).toEqual([]);
    expect(f.push(encodeFrame(0x0, `${allowed.slice(10)} again`)).length).toBe(2);
    expect(f.push(encodeFrame(0x9, allowed)).length).toBe(1);
    expect(seen).toEqual([allowed, allowed]);
    expect(() => f.push(encodeFrame(0x1, `other ${fakeGithubToken('ws-other')}`))).toThrow(WsDlpError);
  });

  it('finds a token in a ping payload', () => {
    expect(() => filter().push(encodeFrame(0x9, fakeGithubToken('ping')))).toThrow(WsDlpError);
  });

  it('refuses protocol errors with the right close code', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return (err as WsCloseError).code;
      }
      return undefined;
    };
    expect(code(() => filter().push(encodeFrame(0x0, 'stray continuation')))).toBe(1002);
    expect(code(() => filter().push(encodeFrame(0x1, 'x', { rsv: 0x40 })))).toBe(1002);
    expect(code(() => filter().push(encodeFrame(0x9, 'x', { fin: false })))).toBe(1002);
    const f = filter(100);
    f.push(encodeFrame(0x1, 'a'.repeat(60), { fin: false }));
    expect(code(() => f.push(encodeFrame(0x0, 'b'.repeat(60))))).toBe(1009);
  });
});
