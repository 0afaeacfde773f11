import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { preconnectTargets } from '../../src/routes/preconnect.js';
import { Preconnects } from '../../src/sidecars/egress/preconnect.js';
import { PRECONNECTS_PER_TARGET } from '../../src/sidecars/egress/upstream.js';
import { readFileSync } from 'node:fs';
import { curl, makeUpstreamPki, route, startHarness, startUpstream, type Harness } from './support.js';
import { RawWs, startWsUpstream } from './websocket-support.js';

/**
 * Egress opens a connection to the model API when the agent is released and
 * hands it to the first request there: the agent's first request no longer
 * waits for a TCP and TLS handshake with the upstream.
 */
const HOST = 'api.preconnect.test';
const AUTH = { scheme: 'Bearer', tokenSlot: 'EGRESS_TOKEN_PRE' } as never;

async function until(what: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

for (const client of ['undici', 'node-http']) {
  describe(`egress preconnect (${client} upstream client)`, () => {
    async function setup(): Promise<{ h: Harness; up: Awaited<ReturnType<typeof startUpstream>>; connections: () => number }> {
      const pki = await makeUpstreamPki([HOST]);
      const up = await startUpstream(pki);
      cleanup.push(() => up.close());
      const h = await startHarness(pki, [route(HOST, up.port)], {
        resolve: `${HOST}:${up.port}:127.0.0.1`,
        env: { BOT_BOTTLE_UPSTREAM_CLIENT: client },
        preconnect: [{ host: HOST, port: up.port }],
      });
      cleanup.push(() => h.close());
      return { h, up, connections: () => up.connections() };
    }

    it('hands the connections opened at warm to the first requests: the upstream accepts no more than those', async () => {
      const { h, up, connections } = await setup();
      expect(connections()).toBe(0);
      void h.egress.warm();
      await until(() => h.logs.filter((l) => l.event === 'egress-preconnected').length === PRECONNECTS_PER_TARGET);
      expect(connections()).toBe(PRECONNECTS_PER_TARGET);
      // Two at once, as an agent's first requests come: each takes one of them.
      const [a, b] = await Promise.all([curl(h, `https://${HOST}:${up.port}/first`), curl(h, `https://${HOST}:${up.port}/second`)]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(up.seen.map((s) => s.url).sort()).toEqual(['/first', '/second']);
      expect(connections()).toBe(PRECONNECTS_PER_TARGET);
    });

    it('a parked connection the upstream closes is not handed out: the request opens its own', async () => {
      const { h, up, connections } = await setup();
      void h.egress.warm();
      await until(() => h.logs.filter((l) => l.event === 'egress-preconnected').length === PRECONNECTS_PER_TARGET);
      up.dropConnections();
      // Give the close a moment to reach egress (bounded); the request must work either way.
      await new Promise((r) => setTimeout(r, 100));
      const r = await curl(h, `https://${HOST}:${up.port}/after-close`);
      expect(r.status).toBe(200);
      expect(r.body).toBe('ok');
      expect(connections()).toBe(PRECONNECTS_PER_TARGET + 1);
    });
  });
}

describe('egress preconnect and WebSocket upgrades', () => {
  it('an upgrade to a preconnected origin takes a parked connection too (Codex opens its model stream as a WebSocket)', async () => {
    const pki = await makeUpstreamPki([HOST]);
    const up = await startWsUpstream(pki);
    cleanup.push(() => up.close());
    const h = await startHarness(pki, [route(HOST, up.port)], { resolve: `${HOST}:${up.port}:127.0.0.1`, preconnect: [{ host: HOST, port: up.port }] });
    cleanup.push(() => h.close());
    void h.egress.warm();
    await until(() => h.logs.filter((l) => l.event === 'egress-preconnected').length === PRECONNECTS_PER_TARGET);
    const ws = await RawWs.open({ proxy: h.proxyUrl, host: HOST, port: up.port, path: '/socket', caPem: readFileSync(h.caFile, 'utf8') });
    expect(ws.status).toBe(101);
    expect(up.upgrades).toHaveLength(1);
    expect(up.connections()).toBe(PRECONNECTS_PER_TARGET);
    ws.close();
  });
});

describe('Preconnects', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());
  const local = async (): Promise<() => Socket> => {
    server = createServer((s) => s.on('error', () => undefined));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    return () => connect(port, '127.0.0.1');
  };

  it('hands a connection still opening to the connect that claimed it, once', async () => {
    const dial = await local();
    const p = new Preconnects();
    let finish: ((err: Error | null, s: Socket | null) => void) | undefined;
    p.open('k', (cb) => (finish = cb));
    const got: Socket[] = [];
    expect(p.claim('k', (_e, s) => got.push(s!), () => undefined)).toBe(true);
    expect(p.claim('k', () => undefined, () => undefined)).toBe(false);
    const s = dial();
    finish!(null, s);
    expect(got).toEqual([s]);
    s.destroy();
  });

  it('hands each parked connection to one connect, an open one first; then there is none', async () => {
    const dial = await local();
    const p = new Preconnects();
    const a = dial();
    await new Promise<void>((r) => p.open('k', (cb) => a.once('connect', () => (cb(null, a), r()))));
    let finish: ((err: Error | null, s: Socket | null) => void) | undefined;
    p.open('k', (cb) => (finish = cb));
    const got: Socket[] = [];
    expect(p.claim('k', (_e, s) => got.push(s!), () => undefined)).toBe(true);
    await new Promise((r) => process.nextTick(r));
    expect(got).toEqual([a]);
    expect(p.claim('k', (_e, s) => got.push(s!), () => undefined)).toBe(true);
    expect(p.claim('k', () => undefined, () => undefined)).toBe(false);
    const b = dial();
    finish!(null, b);
    expect(got).toEqual([a, b]);
    a.destroy();
    b.destroy();
  });

  it('sends the claiming connect its own way when the connection it waited for failed', () => {
    const p = new Preconnects();
    let finish: ((err: Error | null, s: Socket | null) => void) | undefined;
    p.open('k', (cb) => (finish = cb));
    let handed = false;
    let fellBack = false;
    p.claim('k', () => (handed = true), () => (fellBack = true));
    finish!(new Error('ECONNREFUSED'), null);
    expect({ handed, fellBack }).toEqual({ handed: false, fellBack: true });
  });

  it('drops a connection nobody claims in time', async () => {
    const dial = await local();
    const p = new Preconnects(30);
    const s = dial();
    p.open('k', (cb) => s.once('connect', () => cb(null, s)));
    await until(() => s.destroyed, 5_000);
    expect(p.claim('k', () => undefined, () => undefined)).toBe(false);
  });

  it('closes what it holds when egress closes', async () => {
    const dial = await local();
    const p = new Preconnects();
    const s = dial();
    const opened = new Promise<void>((r) => p.open('k', (cb) => s.once('connect', () => (cb(null, s), r()))));
    await opened;
    p.close();
    expect(s.destroyed).toBe(true);
    expect(p.claim('k', () => undefined, () => undefined)).toBe(false);
  });
});

describe('preconnectTargets', () => {
  const r = (host: string, auth?: unknown) => ({ ...route(host, 443), ...(auth ? { auth } : {}) }) as Parameters<typeof preconnectTargets>[0][number];
  it('names the hosts egress injects a token for, at most two, never a name that cannot exist on the internet', () => {
    const routes = [r('docs.example.org'), r('api.anthropic.com', AUTH), r('api.example.test', AUTH), r('*.openai.com', AUTH), r('api.openai.com', AUTH), r('third.example.net.au', AUTH)];
    expect(preconnectTargets(routes, {})).toEqual([
      { host: 'api.anthropic.com', port: 443 },
      { host: 'api.openai.com', port: 443 },
    ]);
  });
  it('is empty with BOT_BOTTLE_PRECONNECT=0', () => {
    expect(preconnectTargets([r('api.anthropic.com', AUTH)], { BOT_BOTTLE_PRECONNECT: '0' })).toEqual([]);
  });
});
