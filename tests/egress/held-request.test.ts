import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProposalQueue, type Proposal } from '../../src/supervise/queue.js';
import { fakeGithubToken, makeUpstreamPki, route, startHarness, undiciClient, type Harness } from './support.js';

async function nextPending(queue: ProposalQueue): Promise<Proposal> {
  for (let i = 0; i < 400; i++) {
    const [p] = await queue.pending();
    if (p) return p;
    await sleep(25);
  }
  throw new Error('no proposal appeared');
}

/**
 * A request held by DLP for the operator must not sit on an upstream
 * connection: servers close idle keep-alive connections after a few seconds,
 * and the request then died (502 "other side closed") while the operator was
 * still deciding. Here the upstream closes every idle connection as soon as
 * the proposal exists, which is what node's 5 s keep-alive timeout does.
 */
describe.each(['undici', 'node-http'])('a held request survives the upstream closing idle connections (%s upstream client)', (client) => {
  let server: Server;
  let h: Harness;
  let queueDir: string;
  const sockets = new Set<Socket>();
  const busy = new Set<Socket>();
  const bodies: string[] = [];

  beforeAll(async () => {
    const pki = await makeUpstreamPki(['hold.test']);
    server = createServer({ key: pki.keyPem, cert: pki.certPem }, (req, res) => {
      busy.add(req.socket);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks).toString('latin1'));
        res.end('ok', () => busy.delete(req.socket));
      });
    });
    server.on('secureConnection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    queueDir = mkdtempSync(join(tmpdir(), 'egress-hold-queue-'));
    h = await startHarness(pki, [route('hold.test', port, { dlp: { outbound: ['token_patterns', 'known_secrets'], inbound: [], onMatch: 'supervise' } })], {
      resolve: `hold.test:${port}:127.0.0.1`,
      env: { EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS: '60', BOT_BOTTLE_UPSTREAM_CLIENT: client },
      superviseQueueDir: queueDir,
    });
  });
  afterAll(async () => {
    await h?.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(queueDir, { recursive: true, force: true });
  });

  it('is released after the approval, on a fresh connection', async () => {
    const port = (server.address() as AddressInfo).port;
    const c = undiciClient(h, readFileSync(h.caFile, 'utf8'));
    try {
      // A first request leaves a pooled keep-alive connection from egress to the upstream.
      expect((await c.fetch(`https://hold.test:${port}/warm`, { method: 'POST', body: 'hello' })).status).toBe(200);
      expect(sockets.size).toBeGreaterThan(0);

      const secret = fakeGithubToken(`hold-${client}`);
      const held = c.fetch(`https://hold.test:${port}/v1/messages`, { method: 'POST', body: `{"messages":[{"content":"key ${secret}"}]}` });
      const queue = new ProposalQueue(queueDir, 'test-bottle');
      const p = await nextPending(queue);
      // While the operator thinks, the upstream drops its idle connections (a keep-alive timeout).
      for (const s of sockets) if (!busy.has(s)) s.destroy();
      for (let i = 0; i < 200 && [...sockets].some((s) => !busy.has(s)); i++) await sleep(10);
      await queue.answer(p.id, { status: 'approved', by: 'test-operator' });

      const r = await held;
      expect(r.status).toBe(200);
      expect(r.body).toBe('ok');
      expect(bodies.at(-1)).toContain(secret);
    } finally {
      await c.agent.destroy();
    }
  });

  it('a long conversation (200 KB) whose flagged value lies past the first read is held before the upstream sees any of it', async () => {
    const port = (server.address() as AddressInfo).port;
    const before = bodies.length;
    const c = undiciClient(h, readFileSync(h.caFile, 'utf8'));
    try {
      const secret = fakeGithubToken(`long-${client}`);
      const body = `{"messages":[{"content":"${'history '.repeat(25_000)}"},{"content":"key ${secret}"}]}`;
      const held = c.fetch(`https://hold.test:${port}/v1/messages`, { method: 'POST', body });
      const queue = new ProposalQueue(queueDir, 'test-bottle');
      const p = await nextPending(queue);
      // No upstream request has started; even a server that drops slow requests (not only idle
      // connections) has nothing to drop.
      expect(busy.size).toBe(0);
      for (const s of sockets) s.destroy();
      await queue.answer(p.id, { status: 'approved', by: 'test-operator' });
      const r = await held;
      expect(r.status).toBe(200);
      expect(bodies.length).toBe(before + 1);
      expect(bodies.at(-1)).toBe(body);
    } finally {
      await c.agent.destroy();
    }
  });

  it('a blocked body never opens an upstream request at all', async () => {
    const port = (server.address() as AddressInfo).port;
    const before = bodies.length;
    const c = undiciClient(h, readFileSync(h.caFile, 'utf8'));
    try {
      const secret = fakeGithubToken(`reject-${client}`);
      const held = c.fetch(`https://hold.test:${port}/v1/messages`, { method: 'POST', body: `x=${secret}` });
      const queue = new ProposalQueue(queueDir, 'test-bottle');
      const p = await nextPending(queue);
      expect(busy.size).toBe(0);
      await queue.answer(p.id, { status: 'rejected', notes: 'no', by: 'test-operator' });
      const r = await held;
      expect(r.status).toBe(403);
      expect(r.body).toContain('rejected');
      expect(bodies.length).toBe(before);
    } finally {
      await c.agent.destroy();
    }
  });
});
