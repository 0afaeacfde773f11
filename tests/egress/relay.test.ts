import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastAudit, makeUpstreamPki, route, startHarness, startUpstream, type Harness } from './support.js';

const BIG = 8 * 1024 * 1024;
const bigBody = Buffer.alloc(BIG, 'relay backpressure payload 0123456789 ');
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The response relay (undici dispatch handler): client backpressure, client aborts, header filtering. */
describe('egress response relay', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let h: Harness;
  let agent: ProxyAgent;
  let upstreamClosed: Promise<void>;
  let markClosed!: () => void;

  beforeAll(async () => {
    upstreamClosed = new Promise((r) => (markClosed = r));
    const pki = await makeUpstreamPki(['r.test']);
    up = await startUpstream(pki, (req, res) => {
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BIG), connection: 'x-private', 'x-private': 'hop', 'x-kept': 'yes' });
        res.end(bigBody);
      } else if (req.url === '/endless') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.on('close', () => markClosed());
        // Bounded: at most 200 chunks of 64 KB, stops as soon as the proxy lets go.
        let n = 0;
        const pump = (): void => {
          while (n < 200 && !res.destroyed) {
            n++;
            if (!res.write(Buffer.alloc(65536, 'e'))) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
      } else res.end('ok');
    });
    h = await startHarness(pki, [route('r.test', up.port)], { resolve: `r.test:${up.port}:127.0.0.1` });
    agent = new ProxyAgent({ uri: h.proxyUrl, requestTls: { ca: readFileSync(h.caFile, 'utf8') } });
  });
  afterAll(async () => {
    await agent?.close();
    await h?.close();
    await up?.close();
  });

  it('relays a large body intact to a slow reader (the upstream read pauses and resumes), dropping Connection-listed headers', async () => {
    const r = await request(`https://r.test:${up.port}/big`, { dispatcher: agent });
    expect(r.statusCode).toBe(200);
    expect(r.headers['x-kept']).toBe('yes');
    expect(r.headers['x-private']).toBeUndefined();
    const chunks: Buffer[] = [];
    let i = 0;
    for await (const c of r.body as AsyncIterable<Buffer>) {
      chunks.push(c);
      // Read slowly at first so the proxy's client socket fills and it must pause upstream.
      if (i++ < 10) await sleep(20);
    }
    const got = Buffer.concat(chunks);
    expect(got.length).toBe(BIG);
    expect(sha(got)).toBe(sha(bigBody));
    // The audit line follows the upstream's end, which the paused parser may reach after the client has every byte.
    for (let n = 0; n < 100 && lastAudit(h)?.path !== '/big'; n++) await sleep(20);
    expect(lastAudit(h)).toMatchObject({ decision: 'allow', status: 200, path: '/big' });
  });

  it('a client that goes away mid-response is audited as an error and the upstream request is cut', async () => {
    const r = await request(`https://r.test:${up.port}/endless`, { dispatcher: agent });
    expect(r.statusCode).toBe(200);
    for await (const _ of r.body as AsyncIterable<Buffer>) break;
    r.body.destroy();
    await agent.close();
    agent = new ProxyAgent({ uri: h.proxyUrl, requestTls: { ca: readFileSync(h.caFile, 'utf8') } });
    await upstreamClosed;
    for (let i = 0; i < 100 && lastAudit(h)?.path !== '/endless'; i++) await sleep(20);
    expect(lastAudit(h)).toMatchObject({ decision: 'error', status: 200, path: '/endless' });
    expect(String(lastAudit(h)!.reason)).toContain('client closed the connection');
    // The proxy still serves the next request.
    const ok = await request(`https://r.test:${up.port}/small`, { dispatcher: agent });
    expect(await ok.body.text()).toBe('ok');
  });
});
