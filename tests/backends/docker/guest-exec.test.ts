import { describe, expect, it } from 'vitest';
import { envFile } from '../../../src/backends/docker/guest-exec.js';

/** The agent's environment reaches `docker exec` as an env file read from a FIFO: one line per variable. */
describe('the agent env file', () => {
  it('writes NAME=value lines, values verbatim', () => {
    expect(envFile({ A: 'x y', B: 'a=b "q"' })).toBe('A=x y\nB=a=b "q"\n');
  });

  it('refuses a value that spans lines or a bad name, naming the variable, never the value', () => {
    expect(() => envFile({ PEM: '-----BEGIN\nsekrit' })).toThrow(/^the value of PEM spans lines/);
    expect(() => envFile({ PEM: '-----BEGIN\nsekrit' })).not.toThrow(/sekrit/);
    expect(() => envFile({ 'A=B': 'x' })).toThrow(/not an environment variable name/);
  });
});
