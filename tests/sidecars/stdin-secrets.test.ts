import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseSecrets, readStdinSecrets } from '../../src/sidecars/stdin-secrets.js';

/** `--secrets-stdin`: the bundle's secrets as the first line of stdin (the docker bundle's channel). */
describe('secrets on the bundle stdin', () => {
  it('reads the first line and leaves the rest of stdin (the parent-watch) unread', async () => {
    const input = new PassThrough();
    const reading = readStdinSecrets(input);
    input.write('{"EGRESS_TOKEN_0":"tok-');
    input.write('value"}\nafter');
    expect(await reading).toEqual({ EGRESS_TOKEN_0: 'tok-value' });
    input.end();
    const rest: Buffer[] = [];
    for await (const chunk of input) rest.push(chunk as Buffer);
    expect(Buffer.concat(rest).toString()).toBe('after');
  });

  it('fails closed on an early end, a bad name or a non-string, never echoing a value', async () => {
    const ended = new PassThrough();
    const reading = readStdinSecrets(ended);
    ended.end('{"A":"x"}');
    await expect(reading).rejects.toThrow(/ended before the secrets line/);
    expect(() => parseSecrets(Buffer.from('{"A=B":"sekrit"}'))).toThrow(/not an environment variable name/);
    expect(() => parseSecrets(Buffer.from('{"A":1}'))).toThrow(/A on stdin is not a string/);
    expect(() => parseSecrets(Buffer.from('sekrit'))).toThrow(/^the secrets line on stdin is not JSON$/);
  });
});
