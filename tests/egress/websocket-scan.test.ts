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
