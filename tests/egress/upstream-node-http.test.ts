import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { createSecureContext } from 'node:tls';
import type { Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resolver } from '../../src/sidecars/egress/resolve.js';
import { createNodeHttpUpstream, createUpstream } from '../../src/sidecars/egress/upstream-node-http.js';
import type { Upstream } from '../../src/sidecars/egress/upstream.js';
import { curl, lastAudit, makeUpstreamPki, route, startHarness, type TestPki } from './support.js';

interface Outcome {
  status: number;
  headers: Record<string, unknown>;
  body: Buffer;
  trailers: Record<string, unknown>;
  error?: Error;
  /** Chunks that arrived while the handler had the response paused. */
  whilePaused: number;
  pauses: number;
}

/** Collects one dispatch; `onData` may pause/abort through the controller. */
function run(up: Upstream, opts: Partial<Dispatcher.DispatchOptions> & { path: string }, onData?: (c: Dispatcher.DispatchController, o: Outcome) => void): Promise<Outcome> {
  return new Promise((resolve) => {
    const o: Outcome = { status: 0, headers: {}, body: Buffer.alloc(0), trailers: {}, whilePaused: 0, pauses: 0 };
    const chunks: Buffer[] = [];
    up.dispatch({ origin: `https://up.test:${port}`, method: 'GET', headers: {}, body: null, ...opts }, {
      onResponseStart: (_c, status, headers) => {
        o.status = status;
        o.headers = headers;
      },
      onResponseData: (c, chunk) => {
        if (c.paused) o.whilePaused++;
        chunks.push(chunk);
        onData?.(c, o);
      },
      onResponseEnd: (_c, trailers) => {
        o.body = Buffer.concat(chunks);
        o.trailers = trailers;
        resolve(o);
      },
      onResponseError: (_c, err) => {
        o.body = Buffer.concat(chunks);
        o.error = err;
        resolve(o);
      },
    });
  });
}

let pki: TestPki;
let server: Server;
let port = 0;
const BIG = Buffer.alloc(4 * 1024 * 1024, 'abcdefghij');

describe('node:http upstream client', () => {
  let up: Upstream;
  beforeAll(async () => {
    pki = await makeUpstreamPki(['up.test']);
    server = createServer({ key: pki.keyPem, cert: pki.certPem }, (req, res) => {
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-dup': ['a', 'b'] });
        res.end(BIG);
      } else if (req.url === '/echo') {
        const h = createHash('sha256');
        let n = 0;
        req.on('data', (c: Buffer) => {
          h.update(c);
          n += c.length;
        });
        req.on('end', () => res.end(`${req.headers['transfer-encoding'] ?? 'cl'} ${n} ${h.digest('hex')}`));
      } else if (req.url === '/port') {
        res.end(String(req.socket.remotePort));
      } else if (req.url === '/trailers') {
        res.writeHead(200, { trailer: 'x-sum' });
        res.write('body');
        res.addTrailers({ 'x-sum': '42' });
        res.end();
      } else if (req.url === '/cut') {
        res.writeHead(200, { 'content-length': '100' });
        res.write('only part');
        setTimeout(() => res.socket?.destroy(), 20);
      } else {
        res.end('ok');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    const ca = createSecureContext({ ca: pki.caPem });
    up = createNodeHttpUpstream(new Resolver(new Map([[`up.test:${port}`, '127.0.0.1']])), () => ca);
  });
  afterAll(async () => {
    await up.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('streams a large response under backpressure: no chunk arrives while paused, the body is intact', async () => {
    const o = await run(up, { path: '/big' }, (c, out) => {
      if (out.pauses >= 50) return;
      out.pauses++;
      c.pause();
      setTimeout(() => c.resume(), 2);
    });
    expect(o.error).toBeUndefined();
    expect(o.status).toBe(200);
    expect(o.pauses).toBe(50);
    expect(o.whilePaused).toBe(0);
    expect(o.body.equals(BIG)).toBe(true);
    // Repeated headers come joined (node's header object), as one line means the same.
    expect(o.headers['x-dup']).toBe('a, b');
  });

  it('streams a Readable request body (chunked), and sends Buffer and empty bodies', async () => {
    const parts = Array.from({ length: 64 }, (_, i) => Buffer.alloc(16 * 1024, i));
    const all = Buffer.concat(parts);
    const hex = createHash('sha256').update(all).digest('hex');
    const streamed = await run(up, { path: '/echo', method: 'POST', body: Readable.from(parts) });
    expect(streamed.body.toString()).toBe(`chunked ${all.length} ${hex}`);
    const fixed = await run(up, { path: '/echo', method: 'PUT', headers: { 'content-length': String(all.length) }, body: Readable.from(parts) });
    expect(fixed.body.toString()).toBe(`cl ${all.length} ${hex}`);
    const buf = await run(up, { path: '/echo', method: 'POST', headers: { 'content-length': String(all.length) }, body: all });
    expect(buf.body.toString()).toBe(`cl ${all.length} ${hex}`);
    const empty = await run(up, { path: '/echo', method: 'POST', headers: { 'content-length': '0' }, body: Buffer.alloc(0) });
    expect(empty.body.toString()).toMatch(/^cl 0 /);
  });

  it('a failing request body stream becomes onResponseError', async () => {
    const body = new Readable({ read() {} });
    body.push('start');
    setTimeout(() => body.destroy(new Error('gate said no')), 10);
    const o = await run(up, { path: '/echo', method: 'POST', body });
    expect(o.error?.message).toBe('gate said no');
  });

  it('reuses one keep-alive connection for sequential requests', async () => {
    const a = await run(up, { path: '/port' });
    const b = await run(up, { path: '/port' });
    const c = await run(up, { path: '/port' });
    expect(a.body.toString()).toMatch(/^\d+$/);
    expect(b.body.toString()).toBe(a.body.toString());
    expect(c.body.toString()).toBe(a.body.toString());
  });

  it('passes trailers to onResponseEnd', async () => {
    const o = await run(up, { path: '/trailers' });
    expect(o.body.toString()).toBe('body');
    expect(o.trailers).toEqual({ 'x-sum': '42' });
  });

  it('abort stops the response: one onResponseError with the reason, no more data', async () => {
    let after = 0;
    let aborted = false;
    const o = await run(up, { path: '/big' }, (c) => {
      if (aborted) after++;
      else {
        aborted = true;
        c.abort(new Error('client went away'));
      }
    });
    expect(o.error?.message).toBe('client went away');
    expect(after).toBe(0);
    // The pool still serves the next request.
    expect((await run(up, { path: '/' })).body.toString()).toBe('ok');
  });

  it('a response cut short is an error, not an end', async () => {
    const o = await run(up, { path: '/cut' });
    expect(o.status).toBe(200);
    expect(o.error).toBeDefined();
  });

  it('connection refused and certificate failures are errors', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const refused = createNodeHttpUpstream(new Resolver(new Map([[`up.test:${closed}`, '127.0.0.1']])), () => createSecureContext({ ca: pki.caPem }));
    const r = await new Promise<Error>((resolve) =>
      refused.dispatch({ origin: `https://up.test:${closed}`, path: '/', method: 'GET', headers: {}, body: null }, { onResponseError: (_c, err) => resolve(err) }),
    );
    expect((r as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    await refused.close();
    const other = await makeUpstreamPki(['up.test']);
    const untrusted = createNodeHttpUpstream(new Resolver(new Map([[`up.test:${port}`, '127.0.0.1']])), () => createSecureContext({ ca: other.caPem }));
    const t = await new Promise<Error>((resolve) =>
      untrusted.dispatch({ origin: `https://up.test:${port}`, path: '/', method: 'GET', headers: {}, body: null }, { onResponseError: (_c, err) => resolve(err) }),
    );
    expect(t.message).toMatch(/certificate|signature|issuer/i);
    await untrusted.close();
  });

  it('BOT_BOTTLE_UPSTREAM_CLIENT must name a known client', () => {
    const resolver = new Resolver(new Map());
    const ca = () => createSecureContext({});
    expect(() => createUpstream(resolver, ca, { BOT_BOTTLE_UPSTREAM_CLIENT: 'curl' })).toThrow(/BOT_BOTTLE_UPSTREAM_CLIENT=curl.*undici or node-http/);
  });
});

describe('egress with the node:http upstream client', () => {
  it('relays through the proxy, and an upstream that is down is a 502 naming the failure', async () => {
    const p = await makeUpstreamPki(['n.test']);
    const s = createServer({ key: p.keyPem, cert: p.certPem }, (_req, res) => res.end('via node-http'));
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const upPort = (s.address() as AddressInfo).port;
    const h = await startHarness(p, [route('n.test', upPort)], { resolve: `n.test:${upPort}:127.0.0.1`, env: { BOT_BOTTLE_UPSTREAM_CLIENT: 'node-http' } });
    try {
      const ok = await curl(h, `https://n.test:${upPort}/`);
      expect(ok).toMatchObject({ status: 200, body: 'via node-http' });
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
      const down = await curl(h, `https://n.test:${upPort}/`);
      expect(down.status).toBe(502);
      expect(down.body).toMatch(/upstream n\.test:\d+ failed: ECONNREFUSED/);
      expect(lastAudit(h)).toMatchObject({ decision: 'block', status: 502, stage: 'upstream' });
    } finally {
      await h.close();
      if (s.listening) s.close();
    }
  });
});
