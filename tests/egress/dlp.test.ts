import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProposalQueue } from '../../src/supervise/queue.js';
import { curl, fakeGithubToken, lastAudit, makeUpstreamPki, route, startHarness, startUpstream, undiciClient, type Harness } from './support.js';

/** Answers the first pending proposal (bounded wait) and returns it. */
async function answerNext(queue: ProposalQueue, status: 'approved' | 'rejected') {
  for (let i = 0; i < 200; i++) {
    const [p] = await queue.pending();
    if (p) {
      await queue.answer(p.id, { status, by: 'test-operator' });
      return p;
    }
    await sleep(25);
  }
  throw new Error('no proposal appeared');
}

describe('egress outbound DLP modes', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let h: Harness;
  let queueDir: string;
  const known = ['kn', 'own-', 'slot-', 'secret-', 'value-', '987'].join('');
  const chunksSeen: Buffer[] = [];

  beforeAll(async () => {
    const pki = await makeUpstreamPki(['block.test', 'redact.test', 'sup.test']);
    up = await startUpstream(pki, (req, res, body) => {
      if (req.url === '/chunks') {
        req.on('data', (c: Buffer) => chunksSeen.push(c));
        req.on('end', () => res.end('done'));
        return;
      }
      res.end(`got ${body.length}`);
    });
    up.streaming.add('/chunks');
    queueDir = mkdtempSync(join(tmpdir(), 'egress-queue-'));
    const p = up.port;
    const dlp = (onMatch: 'block' | 'redact' | 'supervise') => ({ dlp: { outbound: ['token_patterns' as const, 'known_secrets' as const], inbound: [], onMatch } });
    h = await startHarness(pki, [route('block.test', p, dlp('block')), route('redact.test', p, dlp('redact')), route('sup.test', p, dlp('supervise'))], {
      resolve: ['block.test', 'redact.test', 'sup.test'].map((n) => `${n}:${p}:127.0.0.1`).join(','),
      env: { EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS: '1', EGRESS_TOKEN_ZZ: known },
      superviseQueueDir: queueDir,
    });
  });
  afterAll(async () => {
    await h?.close();
    await up?.close();
    rmSync(queueDir, { recursive: true, force: true });
  });

  it('block: 403 names detector and rule, never the value', async () => {
    const secret = fakeGithubToken('c');
    const r = await curl(h, `https://block.test:${up.port}/upload`, ['--data-binary', `payload=${secret}`]);
    expect(r.status).toBe(403);
    expect(r.body).toMatch(/token_patterns\/github/);
    expect(r.body).not.toContain(secret);
    const audit = lastAudit(h)! as { findings: { masked: string }[] };
    expect(audit.findings[0]!.masked).not.toBe(secret);
    expect(JSON.stringify(h.logs)).not.toContain(secret);
    expect(up.seen.some((s) => s.body.includes(secret))).toBe(false);
  });

  it('block: a token with a zero-width char inside, in a header or the body (UTF-8 on the wire), is caught', async () => {
    const secret = fakeGithubToken('z');
    const disguised = `${secret.slice(0, 6)}\u200b${secret.slice(6)}`;
    const inHeader = await curl(h, `https://block.test:${up.port}/h`, ['-H', `X-Note: see ${disguised}`]);
    expect(inHeader.status).toBe(403);
    expect(inHeader.body).toMatch(/token_patterns\/github/);
    const inBody = await curl(h, `https://block.test:${up.port}/b`, ['--data-binary', `{"content":"caf\u00e9 ${disguised}"}`]);
    expect(inBody.status).toBe(403);
    expect(up.seen.some((s) => s.url === '/h' || s.body.includes(secret.slice(6)))).toBe(false);
  });

  it('block: catches a known secret split across body chunks before any of it leaves', async () => {
    const c = undiciClient(h, readFileSync(h.caFile, 'utf8'));
    const half = Math.floor(known.length / 2);
    async function* body() {
      yield Buffer.from('x'.repeat(100_000) + known.slice(0, half));
      await sleep(30);
      yield Buffer.from(known.slice(half) + 'tail');
    }
    const r = await c.fetch(`https://block.test:${up.port}/chunks`, { method: 'POST', body: body(), headers: { 'content-type': 'text/plain' } });
    expect(r.status).toBe(403);
    expect(r.body).toContain('known_secrets/known-secret');
    expect(Buffer.concat(chunksSeen).toString('latin1')).not.toContain(known.slice(0, half));
    await c.agent.close();
  });

  it('redact: the upstream sees the body and path with the value replaced', async () => {
    const secret = fakeGithubToken('d');
    const r = await curl(h, `https://redact.test:${up.port}/q?k=${secret}`, ['--data-binary', `a=${secret}&b=2`]);
    expect(r.status).toBe(200);
    const seen = up.seen.at(-1)!;
    expect(seen.body).not.toContain(secret);
    expect(seen.body).toContain('[REDACTED]');
    expect(seen.body.length).toBe(`a=${secret}&b=2`.length);
    expect(seen.url).not.toContain(secret);
    expect(lastAudit(h)!.decision).toBe('redact');
  });

  it('redact: a secret in the host name is refused', async () => {
    const r = await curl(h, `http://${known}.redact.test:${up.port}/`);
    expect(r.status).toBe(403);
  });

  it('supervise approve: the held request goes through and the value is remembered', async () => {
    const secret = fakeGithubToken('e');
    const q = new ProposalQueue(queueDir, 'test-bottle');
    const pending = curl(h, `https://sup.test:${up.port}/post`, ['--data-binary', `v=${secret}`]);
    const p = await answerNext(q, 'approved');
    expect(p.kind).toBe('egress-token-allow');
    expect(JSON.stringify(p.details)).not.toContain(secret);
    const r = await pending;
    expect(r.status).toBe(200);
    expect(up.seen.at(-1)!.body).toBe(`v=${secret}`);
    // Remembered: the same value passes without a new proposal.
    const again = await curl(h, `https://sup.test:${up.port}/post2`, ['--data-binary', `w=${secret}`]);
    expect(again.status).toBe(200);
    expect(await q.pending()).toHaveLength(0);
  });

  it('supervise reject: 403', async () => {
    const q = new ProposalQueue(queueDir, 'test-bottle');
    const pending = curl(h, `https://sup.test:${up.port}/post`, ['-H', `X-K: ${fakeGithubToken('f')}`]);
    await answerNext(q, 'rejected');
    const r = await pending;
    expect(r.status).toBe(403);
    expect(r.body).toContain('rejected');
  });

  it('supervise timeout: 403 after EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS', async () => {
    const r = await curl(h, `https://sup.test:${up.port}/post`, ['--data-binary', `v=${fakeGithubToken('g')}`]);
    expect(r.status).toBe(403);
    expect(r.body).toContain('timeout');
  });
});

describe('egress supervise without a queue', () => {
  it('fails closed with a 403', async () => {
    const pki = await makeUpstreamPki(['sup.test']);
    const up = await startUpstream(pki);
    const h = await startHarness(pki, [route('sup.test', up.port, { dlp: { outbound: ['token_patterns'], inbound: [], onMatch: 'supervise' } })], {
      resolve: `sup.test:${up.port}:127.0.0.1`,
    });
    try {
      const r = await curl(h, `https://sup.test:${up.port}/x`, ['--data-binary', fakeGithubToken('h')]);
      expect(r.status).toBe(403);
      expect(r.body).toContain('no supervise queue');
    } finally {
      await h.close();
      await up.close();
    }
  });
});
