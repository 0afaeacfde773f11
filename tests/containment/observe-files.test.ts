import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { observe } from '../../src/containment/probe-main.js';
import { PROBE_SPEC_VERSION, type ProbeSpecEarly } from '../../src/containment/spec.js';

/**
 * The probe's file walk (containment/observe.ts): every regular file under the
 * scanned folders comes back to the launcher, which looks for secrets in it;
 * links are not followed, a FIFO never blocks it, and what is over the limits
 * is named rather than silently skipped.
 */
let root: string | undefined;
afterEach(() => {
  if (root) rmSync(root, { recursive: true, force: true });
  root = undefined;
});

function spec(dirs: string[], fileBytes = 1 << 20): ProbeSpecEarly {
  return {
    version: PROBE_SPEC_VERSION,
    canaries: [],
    endpoints: [],
    endpointsRemote: true,
    proxy: { host: '127.0.0.1', port: 1 },
    unroutedHost: 'unrouted.invalid',
    ca: { bundlePath: '/nonexistent/bundle.pem', filePath: '/nonexistent/ca.pem' },
    scanDirs: dirs,
    limits: { attemptMs: 200, fileBytes, totalBytes: 8 << 20, entries: 1000 },
  };
}

const decoded = (texts: Array<{ source: string; data: string }>): Record<string, string> => Object.fromEntries(texts.map((t) => [t.source, Buffer.from(t.data, 'base64').toString('utf8')]));

describe('the probe reads back the files it can read', () => {
  it('returns each regular file whole, follows no link, skips a FIFO and names a file over the limit', async () => {
    root = mkdtempSync(join(tmpdir(), 'bb-observe-'));
    const dir = join(root, 'scan');
    mkdirSync(join(dir, 'nested'), { recursive: true });
    const secret = `ghp_${'x'.repeat(36)}`;
    writeFileSync(join(dir, 'nested', 'token.txt'), `export TOKEN=${secret}\n`);
    writeFileSync(join(dir, 'empty'), '');
    const big = 'a'.repeat(70_000);
    writeFileSync(join(dir, 'big-but-allowed'), big);
    writeFileSync(join(dir, 'too-big'), 'b'.repeat(2_000));
    const outside = join(root, 'outside.txt');
    writeFileSync(outside, 'not in a scanned folder');
    symlinkSync(outside, join(dir, 'link'));
    execFileSync('mkfifo', [join(dir, 'fifo')]);

    const report = await observe({ ...spec([dir], 100_000) }, { caDer: '' });
    const files = decoded(report.texts.filter((t) => t.source.startsWith(dir)));
    expect(files[join(dir, 'nested', 'token.txt')]).toBe(`export TOKEN=${secret}\n`);
    expect(files[join(dir, 'empty')]).toBe('');
    expect(files[join(dir, 'big-but-allowed')]).toBe(big);
    expect(Object.keys(files)).not.toContain(join(dir, 'link'));
    expect(Object.keys(files)).not.toContain(join(dir, 'fifo'));
    expect(report.truncated).toBeUndefined();

    const limited = await observe({ ...spec([dir], 1_000) }, { caDer: '' });
    expect(limited.truncated).toContain(`${join(dir, 'too-big')} (2000 bytes)`);
    expect(decoded(limited.texts)[join(dir, 'nested', 'token.txt')]).toContain(secret);
  });
});
