// The request-body gate on its own: batches in, bytes out, with the real DLP.
// Secrets split across chunks are the point: a gate that forwards part of one
// before the scanner has seen all of it has leaked.
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { RouteDlp } from '../../src/routes/model.js';
import { BodyGate, gatedBody } from '../../src/sidecars/egress/body-gate.js';
import { DlpPolicy, HOLDBACK_CHARS } from '../../src/sidecars/egress/dlp-policy.js';
import type { Block } from '../../src/sidecars/egress/verdict.js';
import { fakeGithubToken } from './support.js';

const secret = `kn0wn-${'Zq8w'.repeat(2)}Xr4Tb7Yu2Pl9Mn6Vc3`;
const policy = new DlpPolicy({ knownSecrets: [secret], queue: undefined, superviseTimeoutMs: 1000, log: () => undefined });
const ask = { host: 'h.test', method: 'POST', path: '/', signal: new AbortController().signal };

function gate(onMatch: RouteDlp['onMatch']): BodyGate {
  const dlp: RouteDlp = { outbound: ['token_patterns', 'known_secrets'], inbound: [], onMatch };
  return new BodyGate(policy, dlp, policy.bodyStreamScanner(dlp.outbound), ask);
}

/**
 * Feeds `body` in `size`-byte writes through gatedBody; resolves with what came out, or the block.
 * `burst`: write everything at once (the gate then reads it in full batches) instead of one write per turn.
 */
async function run(g: BodyGate, body: string, size: number, burst = false): Promise<{ out: string; block?: Block }> {
  const req = new PassThrough();
  let blocked: Block | undefined;
  const chunks: Buffer[] = [];
  // The upstream client's side: pull until the body ends or fails.
  const done = (async (): Promise<void> => {
    try {
      for await (const c of gatedBody(req as unknown as IncomingMessage, g, (b) => (blocked = b))) chunks.push(c);
    } catch {
      /* the block (or error) is the result */
    }
  })();
  for (let i = 0; i < body.length; i += size) {
    req.write(Buffer.from(body.slice(i, i + size), 'latin1'));
    if (!burst) await new Promise((r) => setImmediate(r));
  }
  req.end();
  await done;
  return { out: Buffer.concat(chunks).toString('latin1'), ...(blocked ? { block: blocked } : {}) };
}

const filler = (n: number): string => 'lorem ipsum dolor sit amet, '.repeat(Math.ceil(n / 28)).slice(0, n);

describe('request body gate', () => {
  it('forwards a clean body byte for byte, in order, across many batch sizes', async () => {
    const body = filler(3 * HOLDBACK_CHARS + 123);
    for (const size of [1, 100, 4096, 20_000]) expect((await run(gate('block'), body, size)).out).toBe(body);
  });

  it('scans a burst in full batches and still forwards every byte, or blocks a secret on a batch edge', async () => {
    const body = filler(300 * 1024);
    expect((await run(gate('block'), body, 16 * 1024, true)).out).toBe(body);
    // The secret straddles the 64 KiB batch boundary.
    const split = `${filler(64 * 1024 - 10)}${secret}${filler(100 * 1024)}`;
    const r = await run(gate('block'), split, 16 * 1024, true);
    expect(r.block?.reason).toContain('known_secrets/known-secret');
    expect(r.out).not.toContain(secret.slice(0, 12));
  });

  it('blocks a known secret split across writes before any part of it is forwarded', async () => {
    const body = `${filler(2 * HOLDBACK_CHARS)} key=${secret} ${filler(2 * HOLDBACK_CHARS)}`;
    for (const size of [1, 7, 5000]) {
      const r = await run(gate('block'), body, size);
      expect(r.block?.reason, `size ${size}`).toContain('known_secrets/known-secret');
      expect(r.out).not.toContain(secret.slice(0, 12));
    }
  });

  it('redacts the whole of a secret that arrives one byte at a time, and keeps the length', async () => {
    const token = fakeGithubToken();
    const body = `${filler(HOLDBACK_CHARS)} key=${secret} tok=${token} ${filler(HOLDBACK_CHARS)}`;
    for (const size of [1, 3, 64, 9000]) {
      const r = await run(gate('redact'), body, size);
      expect(r.block, `size ${size}`).toBeUndefined();
      expect(r.out.length).toBe(body.length);
      // No 12-char window of the secret or the token survives.
      for (const v of [secret, token]) for (let i = 0; i + 12 <= v.length; i++) expect(r.out, `size ${size}`).not.toContain(v.slice(i, i + 12));
      expect(r.out).toContain('[REDACTED]');
    }
  });

  it('decodes UTF-8 bodies for the NFKC view: a token with a zero-width or fullwidth char inside is blocked, or redacted bytes and all', async () => {
    const token = fakeGithubToken();
    for (const disguised of [`${token.slice(0, 6)}\u200b${token.slice(6)}`, `gh\uff50${token.slice(3)}`]) {
      // The body as the gate receives it: UTF-8 bytes, one latin1 char each.
      const body = Buffer.from(`{"content":"d\u00e9j\u00e0 vu ${filler(5000)} ${disguised} ${filler(5000)}"}`, 'utf8').toString('latin1');
      for (const size of [7, 4096]) {
        const blocked = await run(gate('block'), body, size);
        expect(blocked.block?.reason, `${JSON.stringify(disguised)} size ${size}`).toContain('github-pat');
        const redacted = await run(gate('redact'), body, size);
        expect(redacted.block).toBeUndefined();
        expect(redacted.out.length).toBe(body.length);
        expect(Buffer.from(redacted.out, 'latin1').toString('utf8')).not.toContain(token.slice(8, 20));
      }
    }
  });
});
