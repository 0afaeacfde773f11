import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingTool } from '../support/prereq.js';
import { curl, lastAudit, makeUpstreamPki, route, startHarness, startUpstream, undiciClient, type Harness } from './support.js';

const noCurl = missingTool('curl');

// The upstream headers timeout is the proxy's own (not undici's), so it is tested here end to end.
describe.skipIf(noCurl)('egress: the upstream must answer with headers in time', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let h: Harness;
  const stalled: { end(): void }[] = [];

  beforeAll(async () => {
    const pki = await makeUpstreamPki(['slow.test']);
    up = await startUpstream(pki, (req, res, body) => {
      if (req.url === '/stall') {
        stalled.push(res);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`got ${body.length}`);
    });
    h = await startHarness(pki, [route('slow.test', up.port)], {
      resolve: `slow.test:${up.port}:127.0.0.1`,
      env: { EGRESS_UPSTREAM_HEADERS_TIMEOUT_SECONDS: '0.5' },
    });
  });
  afterAll(async () => {
    for (const r of stalled) r.end();
    await h?.close();
    await up?.close();
  });

  it('answers 504 naming the upstream when no headers arrive in time', async () => {
    const r = await curl(h, `https://slow.test:${up.port}/stall`);
    expect(r.status).toBe(504);
    expect(r.body).toContain('slow.test');
    expect(r.body).toContain('no response headers within');
    const a = lastAudit(h)!;
    expect(a.decision).toBe('block');
    expect(a.status).toBe(504);
    expect(a.stage).toBe('upstream');
  });

  it('starts the wait only once the request has arrived whole: a slow upload is not cut', async () => {
    const c = undiciClient(h, readFileSync(h.caFile, 'utf8'));
    // Three pieces 400 ms apart: the upload alone outlasts the 0.5 s headers timeout.
    const body = (async function* () {
      for (let i = 0; i < 3; i++) {
        if (i > 0) await sleep(400);
        yield Buffer.from(`piece ${i} `.repeat(100));
      }
    })();
    const r = await c.fetch(`https://slow.test:${up.port}/upload`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body });
    await c.agent.close();
    expect(r.status).toBe(200);
    expect(r.body).toBe(`got ${3 * 'piece 0 '.length * 100}`);
  });

  it('refuses a headers timeout that is not a positive number of seconds', async () => {
    const pki = await makeUpstreamPki(['x.test']);
    await expect(startHarness(pki, [route('x.test', 1)], { resolve: '', env: { EGRESS_UPSTREAM_HEADERS_TIMEOUT_SECONDS: 'soon' } })).rejects.toThrow(
      /EGRESS_UPSTREAM_HEADERS_TIMEOUT_SECONDS=soon: must be a positive number of seconds/,
    );
  });
});
