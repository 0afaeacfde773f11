import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProposalQueue } from '../../src/supervise/queue.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeGithubToken, lastAudit, makeUpstreamPki, route, startHarness, undiciClient, type Harness } from './support.js';
import { closeCode, closeReason, RawWs, startWsUpstream } from './websocket-support.js';

const TEXT = 0x1;
const BINARY = 0x2;
const CONT = 0x0;
const PING = 0x9;
const PONG = 0xa;

describe('egress WebSocket relay (wss via CONNECT and plain ws)', () => {
  let up: Awaited<ReturnType<typeof startWsUpstream>>;
  let plainUp: Awaited<ReturnType<typeof startWsUpstream>>;
  let h: Harness;
  let caPem: string;
  const token = ['ws-', 'tok', 'en-', 'real-', 'value-', '4242'].join('');
  const hosts = ['ws.test', 'plain.test', 'auth-plain.test', 'limited.test', 'redact.test', 'sup.test', 'other.test'];

  beforeAll(async () => {
    const pki = await makeUpstreamPki(hosts);
    up = await startWsUpstream(pki);
    plainUp = await startWsUpstream(undefined);
    const p = up.port;
    h = await startHarness(
      pki,
      [
        route('ws.test', p, { auth: { scheme: 'Bearer', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'HOST_TOKEN' } }),
        route('plain.test', p),
        route('auth-plain.test', p, { auth: { scheme: 'Bearer', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'HOST_TOKEN' } }),
        route('limited.test', p, { matches: [{ paths: [{ type: 'prefix', value: '/socket/' }], methods: ['GET'], headers: [] }] }),
        route('redact.test', p, { dlp: { outbound: ['token_patterns', 'known_secrets'], inbound: [], onMatch: 'redact' } }),
        route('sup.test', p, { dlp: { outbound: ['token_patterns', 'known_secrets'], inbound: [], onMatch: 'supervise' } }),
        route('ws-plain.test', plainUp.port),
      ],
      { env: { EGRESS_TOKEN_0: token }, resolve: [...hosts.map((n) => `${n}:${p}:127.0.0.1`), `ws-plain.test:${plainUp.port}:127.0.0.1`].join(',') },
    );
    caPem = readFileSync(h.caFile, 'utf8');
  });
  afterAll(async () => {
    await h?.close();
    await up?.close();
    await plainUp?.close();
  });

  const open = (host: string, path = '/socket/chat', extra: { plain?: boolean; headers?: Record<string, string> } = {}) =>
    RawWs.open({ proxy: h.proxyUrl, host, port: up.port, path, caPem, ...extra });
  const seenText = () => up.frames.map((f) => f.payload.toString('latin1')).join('\n');

  it('relays a wss echo round trip, injecting the route token into the upgrade only upstream sees', async () => {
    const ws = await open('ws.test', '/socket/chat?room=1', {
      headers: { Authorization: 'Bearer agent-fake', 'Sec-WebSocket-Extensions': 'permessage-deflate', 'Sec-WebSocket-Protocol': 'chat' },
    });
    expect(ws.status).toBe(101);
    expect(ws.head).toMatch(/x-upstream: ws-echo/i);
    expect(ws.head).toMatch(/sec-websocket-accept: /i);
    expect(ws.head).not.toContain(token);
    const seen = up.upgrades.at(-1)!;
    expect(seen.authorization).toBe(`Bearer ${token}`);
    expect(seen['sec-websocket-protocol']).toBe('chat');
    // No extension is negotiated: compressed frames could not be scanned.
    expect(seen['sec-websocket-extensions']).toBeUndefined();
    expect(seen.upgrade).toBe('websocket');
    ws.send(TEXT, 'hello egress');
    const echo = await ws.next();
    expect(echo?.opcode).toBe(TEXT);
    expect(echo?.payload.toString()).toBe('hello egress');
    const audit = h.logs.filter((l) => l.event === 'egress-request' && l.host === 'ws.test').at(-1)!;
    expect(audit).toMatchObject({ decision: 'allow', status: 101, route: 'ws.test', method: 'GET' });
    expect(JSON.stringify(h.logs)).not.toContain(token);
    ws.close();
  });

  it('passes a clean binary message and ping/pong', async () => {
    const ws = await open('plain.test');
    expect(ws.status).toBe(101);
    const bin = Buffer.from([0, 1, 2, 250, 255, 7]);
    ws.send(BINARY, bin);
    const echo = await ws.next();
    expect(echo?.opcode).toBe(BINARY);
    expect(echo?.payload.equals(bin)).toBe(true);
    ws.send(PING, 'are-you-there');
    const pong = await ws.next();
    expect(pong?.opcode).toBe(PONG);
    expect(pong?.payload.toString()).toBe('are-you-there');
    ws.close();
  });

  it('refuses an upgrade to an unrouted host with 403 (plain ws)', async () => {
    const ws = await open('other.test', '/socket/chat', { plain: true });
    expect(ws.status).toBe(403);
    expect(await ws.rest()).toContain('not in this bottle');
    expect(lastAudit(h)).toMatchObject({ decision: 'block', stage: 'route', host: 'other.test' });
  });

  it("refuses an upgrade whose path the route's matches exclude", async () => {
    const ws = await open('limited.test', '/elsewhere');
    expect(ws.status).toBe(403);
    expect(await ws.rest()).toContain('stage: matches');
    expect(lastAudit(h)).toMatchObject({ decision: 'block', stage: 'matches', host: 'limited.test' });
    const ok = await open('limited.test', '/socket/x');
    expect(ok.status).toBe(101);
    ok.close();
  });

  it('never sends a token over plain ws://', async () => {
    const before = up.upgrades.length;
    const ws = await open('auth-plain.test', '/socket/chat', { plain: true });
    expect(ws.status).toBe(403);
    expect(await ws.rest()).toContain('stage: scheme');
    expect(up.upgrades.length).toBe(before);
  });

  it('relays plain ws:// on a route without a token', async () => {
    const secret = fakeGithubToken('ws-plain');
    const ws = await RawWs.open({ proxy: h.proxyUrl, host: 'ws-plain.test', port: plainUp.port, path: '/socket/chat', caPem, plain: true });
    expect(ws.status).toBe(101);
    ws.send(TEXT, 'over plain ws');
    expect((await ws.next())?.payload.toString()).toBe('over plain ws');
    ws.send(TEXT, secret);
    expect(closeCode((await ws.next())!)).toBe(1008);
    expect(plainUp.frames.map((f) => f.payload.toString()).join('\n')).not.toContain(secret);
    ws.close();
  });

  it('closes with 1008 naming the rule when a text message carries a secret; upstream never gets it', async () => {
    const secret = fakeGithubToken('ws1');
    const ws = await open('plain.test');
    ws.send(TEXT, 'clean first');
    expect((await ws.next())?.payload.toString()).toBe('clean first');
    ws.send(TEXT, `here is my token ${secret} ok`);
    const close = await ws.next();
    expect(close?.opcode).toBe(0x8);
    expect(closeCode(close!)).toBe(1008);
    expect(closeReason(close!)).toMatch(/token_patterns\/github/);
    expect(closeReason(close!)).not.toContain(secret);
    expect(await ws.next()).toBeUndefined();
    expect(seenText()).toContain('clean first');
    expect(seenText()).not.toContain(secret.slice(0, 12));
    const audit = lastAudit(h) as { decision: string; stage: string; findings: { masked: string }[] };
    expect(audit).toMatchObject({ decision: 'terminated', stage: 'outbound-dlp', host: 'plain.test' });
    expect(audit.findings.length).toBeGreaterThan(0);
    expect(JSON.stringify(h.logs)).not.toContain(secret);
  });

  it('reads binary messages and ping data as UTF-8: a token with a zero-width char inside is caught there too', async () => {
    const secret = fakeGithubToken('ws3');
    const disguised = `${secret.slice(0, 6)}\u200b${secret.slice(6)}`;
    for (const [op, label] of [[BINARY, 'binary'], [PING, 'ping']] as const) {
      const ws = await open('plain.test');
      ws.send(op, Buffer.from(`{"note":"caf\u00e9 ${disguised}"}`, 'utf8'));
      const close = await ws.next();
      expect(closeCode(close!), label).toBe(1008);
      expect(closeReason(close!), label).toMatch(/token_patterns\/github/);
      expect(seenText(), label).not.toContain(secret.slice(6, 20));
    }
  });

  it('catches a secret split across two fragments before either leaves', async () => {
    const secret = fakeGithubToken('ws2');
    const half = Math.floor(secret.length / 2);
    const ws = await open('plain.test');
    ws.send(TEXT, `frag-one ${secret.slice(0, half)}`, { fin: false });
    ws.send(CONT, `${secret.slice(half)} frag-two`);
    const close = await ws.next();
    expect(closeCode(close!)).toBe(1008);
    expect(seenText()).not.toContain('frag-one');
    expect(seenText()).not.toContain('frag-two');
  });

  it('catches a known secret split across two messages; the second never leaves', async () => {
    const half = Math.floor(token.length / 2);
    const ws = await open('plain.test');
    ws.send(TEXT, `msg-a ${token.slice(0, half)}`);
    ws.send(TEXT, `${token.slice(half)} msg-b`);
    const frames = [await ws.next(), await ws.next()];
    const close = frames.find((f) => f?.opcode === 0x8);
    expect(closeCode(close!)).toBe(1008);
    expect(closeReason(close!)).toContain('known_secrets/known-secret');
    expect(seenText()).not.toContain('msg-b');
  });

  it('fails closed (1008) on a redact route, saying why', async () => {
    const secret = fakeGithubToken('ws-redact');
    const ws = await open('redact.test');
    ws.send(TEXT, `redact me ${secret}`);
    const close = await ws.next();
    expect(closeCode(close!)).toBe(1008);
    expect(closeReason(close!)).toContain('onMatch redact cannot apply to a WebSocket');
    expect(seenText()).not.toContain('redact me');
  });

  it('fails closed (1008) on a supervise route when there is no operator queue to ask', async () => {
    const ws = await open('sup.test');
    ws.send(TEXT, `supervise me ${fakeGithubToken('ws-supervise')}`);
    const close = await ws.next();
    expect(closeCode(close!)).toBe(1008);
    expect(lastAudit(h)).toMatchObject({ decision: 'terminated', stage: 'outbound-dlp' });
    expect(String((lastAudit(h) as { reason: string }).reason)).toContain('no supervise queue is configured');
    expect(seenText()).not.toContain('supervise me');
  });

  it('closes 1002 on an unmasked client frame and on a reserved opcode', async () => {
    const ws = await open('plain.test');
    ws.send(TEXT, 'unmasked-frame', { mask: false });
    const close = await ws.next();
    expect(closeCode(close!)).toBe(1002);
    expect(seenText()).not.toContain('unmasked-frame');
    const ws2 = await open('plain.test');
    ws2.send(0x3, 'reserved-op');
    expect(closeCode((await ws2.next())!)).toBe(1002);
    expect(lastAudit(h)).toMatchObject({ decision: 'terminated', stage: 'websocket' });
  });

  it('closes 1009 on a frame over the size limit without buffering it', async () => {
    const ws = await open('plain.test');
    // Only the header claims 17 MiB: the proxy must refuse on the header alone.
    ws.send(BINARY, Buffer.alloc(0), { lengthOverride: 17 * 1024 * 1024 });
    const close = await ws.next();
    expect(closeCode(close!)).toBe(1009);
  });

  it("passes on an upstream's refusal to upgrade (401) and closes", async () => {
    const ws = await open('plain.test', '/reject');
    expect(ws.status).toBe(401);
    expect(await ws.rest()).toContain('not allowed');
    expect(lastAudit(h)).toMatchObject({ decision: 'allow', status: 401, host: 'plain.test' });
  });
});

/**
 * A value the operator allowed for the bottle (asked about in a request) is
 * allowed in that host's WebSocket messages too: Codex sends its conversation
 * over a WebSocket, and it must not be cut for a value already approved.
 */
describe('egress WebSocket relay and DLP approvals', () => {
  let up: Awaited<ReturnType<typeof startWsUpstream>>;
  let h: Harness;
  let queueDir: string;

  beforeAll(async () => {
    const pki = await makeUpstreamPki(['model.test']);
    up = await startWsUpstream(pki);
    queueDir = mkdtempSync(join(tmpdir(), 'egress-ws-approval-'));
    h = await startHarness(pki, [route('model.test', up.port, { dlp: { outbound: ['token_patterns', 'known_secrets'], inbound: [], onMatch: 'supervise' } })], {
      resolve: `model.test:${up.port}:127.0.0.1`,
      env: { EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS: '60' },
      superviseQueueDir: queueDir,
    });
  });
  afterAll(async () => {
    await h?.close();
    await up?.close();
    rmSync(queueDir, { recursive: true, force: true });
  });

  const caPem = (): string => readFileSync(h.caFile, 'utf8');
  const queue = (): ProposalQueue => new ProposalQueue(queueDir, 'test-bottle');
  const asked = async (n: number) => {
    let list = await queue().pending();
    for (let i = 0; list.length < n && i < 400; i++) {
      await sleep(25);
      list = await queue().pending();
    }
    return list;
  };
  const echoed = () => up.frames.map((f) => f.payload.toString('utf8'));

  it('relays a message carrying a value approved for the bottle; another flagged value is held and asked about', async () => {
    const approved = fakeGithubToken('ws-approved');
    const held = undiciClient(h, caPem()).fetch(`https://model.test:${up.port}/v1/responses`, { method: 'POST', body: JSON.stringify({ input: `token ${approved}` }) });
    const first = await asked(1);
    expect(first).toHaveLength(1);
    await queue().answer(first[0]!.id, { status: 'approved', scope: 'bottle', by: 'test' });
    expect((await held).status).toBe(426);

    const ws = await RawWs.open({ proxy: h.proxyUrl, host: 'model.test', port: up.port, path: '/v1/responses', caPem: caPem() });
    ws.send(TEXT, `again ${approved}`);
    expect((await ws.next())?.payload.toString('utf8')).toBe(`again ${approved}`);
    expect(await queue().pending()).toEqual([]);
    ws.send(TEXT, `new ${fakeGithubToken('ws-not-approved')}`);
    const second = await asked(1);
    expect(second).toHaveLength(1);
    await queue().answer(second[0]!.id, { status: 'rejected', by: 'test' });
    expect(closeCode((await ws.next())!)).toBe(1008);
    expect(echoed().some((t) => t.startsWith('new '))).toBe(false);
  });

  it('holds a flagged message for the operator, keeps the ones behind it in order, and sends them all once approved', async () => {
    const secret = fakeGithubToken('ws-held');
    const ws = await RawWs.open({ proxy: h.proxyUrl, host: 'model.test', port: up.port, path: '/v1/responses', caPem: caPem() });
    ws.send(TEXT, 'before');
    expect((await ws.next())?.payload.toString('utf8')).toBe('before');
    ws.send(TEXT, `held ${secret} in the middle`);
    ws.send(TEXT, 'behind');
    const list = await asked(1);
    expect(list).toHaveLength(1);
    const proposal = JSON.stringify(list[0]);
    expect(proposal).not.toContain(secret);
    expect(list[0]!.details).toMatchObject({ host: 'model.test', method: 'GET', path: '/v1/responses' });
    expect(proposal).toContain('websocket message');
    expect(proposal).toContain('held ⟨token_patterns/');
    // Nothing of the held message, or of the one behind it, went upstream while the operator decides.
    await sleep(200);
    expect(echoed().filter((t) => t.startsWith('held ') || t === 'behind')).toEqual([]);

    await queue().answer(list[0]!.id, { status: 'approved', scope: 'once', by: 'test' });
    expect((await ws.next())?.payload.toString('utf8')).toBe(`held ${secret} in the middle`);
    expect((await ws.next())?.payload.toString('utf8')).toBe('behind');
    // "once": the same value in a later message is asked about again.
    ws.send(TEXT, `again ${secret}`);
    const again = await asked(1);
    expect(again).toHaveLength(1);
    await queue().answer(again[0]!.id, { status: 'approved', scope: 'bottle', by: 'test' });
    expect((await ws.next())?.payload.toString('utf8')).toBe(`again ${secret}`);
    ws.send(TEXT, `third ${secret}`);
    expect((await ws.next())?.payload.toString('utf8')).toBe(`third ${secret}`);
    expect(await queue().pending()).toEqual([]);
  });

  it('holds a value split across fragments of one message until the operator answers', async () => {
    const secret = fakeGithubToken('ws-frag');
    const ws = await RawWs.open({ proxy: h.proxyUrl, host: 'model.test', port: up.port, path: '/v1/responses', caPem: caPem() });
    ws.send(TEXT, `frag ${secret.slice(0, 10)}`, { fin: false });
    ws.send(0x0, `${secret.slice(10)} end`);
    const list = await asked(1);
    expect(list).toHaveLength(1);
    expect(echoed().some((t) => t.startsWith('frag '))).toBe(false);
    await queue().answer(list[0]!.id, { status: 'approved', scope: 'once', by: 'test' });
    expect((await ws.next())?.payload.toString('utf8')).toBe(`frag ${secret} end`);
  });
});
