import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodedReading, dotSegmentReading } from '../../src/sidecars/egress/path-normal.js';
import { missingTool } from '../support/prereq.js';
import { curl, lastAudit, makeUpstreamPki, route, startHarness, startUpstream, type Harness } from './support.js';
import { RawWs, startWsUpstream } from './websocket-support.js';

const noCurl = missingTool('curl');

describe('path readings', () => {
  it('finds dot segments under every reading a server may apply, and resolves them', () => {
    expect(dotSegmentReading('/api/v1/items')).toBeUndefined();
    expect(dotSegmentReading('/api/file.txt')).toBeUndefined();
    expect(dotSegmentReading('/api/a%2Fb')).toBeUndefined();
    expect(dotSegmentReading('/api/...')).toBeUndefined();
    expect(dotSegmentReading('/api/../admin')).toBe('/admin');
    expect(dotSegmentReading('/api/./x')).toBe('/api/x');
    expect(dotSegmentReading('/api/x/..')).toBe('/api/');
    expect(dotSegmentReading('/api/%2e%2E/admin')).toBe('/admin');
    expect(dotSegmentReading('/api/..%2fadmin')).toBe('/admin');
    expect(dotSegmentReading('/api/..%5Cadmin')).toBe('/admin');
    expect(dotSegmentReading('/api/..\\admin')).toBe('/admin');
    expect(dotSegmentReading('/api/..;x=1/admin')).toBe('/admin');
    expect(dotSegmentReading('/api/%252e%252e/admin')).toBe('/admin');
    expect(dotSegmentReading('/api/../../../etc')).toBe('/etc');
  });

  it('decodes nested escapes for substring tests', () => {
    expect(decodedReading('/r.git/git-receive%2Dpack')).toBe('/r.git/git-receive-pack');
    expect(decodedReading('/r.git/git-receive%252Dpack')).toBe('/r.git/git-receive-pack');
    expect(decodedReading('/plain')).toBe('/plain');
  });
});

/** Issue 13 finding 5: `prefix /api/` must not let `/api/../admin` reach the upstream with the route's token. */
describe.skipIf(noCurl)('egress path rules: dot segments, method overrides, encoded git paths', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let wsUp: Awaited<ReturnType<typeof startWsUpstream>>;
  let plain: Server;
  const plainSeen: string[] = [];
  let h: Harness;
  const token = ['path-', 'rule-', 'tok', 'en-', '777'].join('');
  const apiOnly = { matches: [{ paths: [{ type: 'prefix' as const, value: '/api/' }], methods: ['GET'], headers: [] }] };

  beforeAll(async () => {
    const pki = await makeUpstreamPki(['api.test', 'git.test', 'ws.test', 'open.test']);
    up = await startUpstream(pki);
    wsUp = await startWsUpstream(pki);
    plain = createServer((req, res) => {
      plainSeen.push(req.url ?? '');
      res.end('plain ok');
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    const plainPort = (plain.address() as AddressInfo).port;
    const p = up.port;
    h = await startHarness(
      pki,
      [
        route('api.test', p, { auth: { scheme: 'Bearer', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'HOST_TOKEN' }, ...apiOnly }),
        route('open.test', p),
        route('git.test', p, { gitFetch: false }),
        route('plain.test', plainPort, apiOnly),
        route('ws.test', wsUp.port, { matches: [{ paths: [{ type: 'prefix', value: '/socket/' }], methods: [], headers: [] }] }),
      ],
      {
        env: { EGRESS_TOKEN_0: token },
        resolve: [...['api.test', 'open.test', 'git.test'].map((n) => `${n}:${p}:127.0.0.1`), `plain.test:${plainPort}:127.0.0.1`, `ws.test:${wsUp.port}:127.0.0.1`].join(','),
      },
    );
  });
  afterAll(async () => {
    await h?.close();
    await up?.close();
    await wsUp?.close();
    await new Promise<void>((r) => (plain ? plain.close(() => r()) : r()));
  });

  const bypasses = ['/api/../admin', '/api/%2e%2e/admin', '/api/%2E%2e/admin', '/api/..%2fadmin', '/api/..%2Fadmin', '/api/..%5cadmin', '/api/..\\admin', '/api/..;/admin', '/api/%252e%252e/admin', '/api/./../admin'];

  it('HTTPS: refuses every dot-segment spelling with 403 naming the normal form; nothing reaches the upstream', async () => {
    const before = up.seen.length;
    for (const path of bypasses) {
      const r = await curl(h, `https://api.test:${up.port}${path}`, ['--path-as-is']);
      expect(r.status, path).toBe(403);
      expect(r.body, path).toContain('stage: path');
      expect(r.body, path).toContain('"/admin"');
      expect(lastAudit(h), path).toMatchObject({ decision: 'block', stage: 'path', host: 'api.test' });
    }
    expect(up.seen.slice(before)).toEqual([]);
  });

  it('HTTPS: normal paths, dots inside names and encoded slashes without dot segments still pass with the token', async () => {
    for (const path of ['/api/v1/items', '/api/file.txt', '/api/projects/group%2Fproject', '/api/...x']) {
      const r = await curl(h, `https://api.test:${up.port}${path}`, ['--path-as-is']);
      expect(r.status, path).toBe(200);
      expect(up.seen.at(-1)!.url).toBe(path);
      expect(up.seen.at(-1)!.headers.authorization).toBe(`Bearer ${token}`);
    }
  });

  it('a route without path rules relays dot segments as sent (nothing to bypass)', async () => {
    const r = await curl(h, `https://open.test:${up.port}/a/../b`, ['--path-as-is']);
    expect(r.status).toBe(200);
    expect(up.seen.at(-1)!.url).toBe('/a/../b');
  });

  it('plain HTTP: refuses an encoded dot segment the URL parser leaves alone', async () => {
    const port = (plain.address() as AddressInfo).port;
    const r = await curl(h, `http://plain.test:${port}/api/..%2fadmin`, ['--path-as-is']);
    expect(r.status).toBe(403);
    expect(r.body).toContain('stage: path');
    expect(plainSeen).toEqual([]);
    expect((await curl(h, `http://plain.test:${port}/api/ok`)).status).toBe(200);
    expect(plainSeen).toEqual(['/api/ok']);
  });

  it('WebSocket: refuses an upgrade whose path has dot segments', async () => {
    const before = wsUp.upgrades.length;
    const ws = await RawWs.open({ proxy: h.proxyUrl, host: 'ws.test', port: wsUp.port, path: '/socket/%2e%2e/admin', caPem: readFileSync(h.caFile, 'utf8') });
    expect(ws.status).toBe(403);
    expect(await ws.rest()).toContain('stage: path');
    ws.close();
    expect(wsUp.upgrades.length).toBe(before);
  });

  it('refuses method overrides naming a method the route does not allow (headers and ?_method)', async () => {
    const before = up.seen.length;
    for (const [args, what] of [
      [['-H', 'X-HTTP-Method-Override: DELETE'], 'x-http-method-override'],
      [['-H', 'X-HTTP-Method: put'], 'x-http-method'],
      [['-H', 'X-Method-Override: GET, DELETE'], 'x-method-override'],
      [['-H', 'X-HTTP-Method-Override: DE LETE'], 'x-http-method-override'],
    ] as const) {
      const r = await curl(h, `https://api.test:${up.port}/api/items/1`, [...args]);
      expect(r.status, what).toBe(403);
      expect(r.body, what).toContain(`header ${what}`);
    }
    const q = await curl(h, `https://api.test:${up.port}/api/items/1?_method=DELETE`);
    expect(q.status).toBe(403);
    expect(q.body).toContain('query parameter _method');
    expect(up.seen.slice(before)).toEqual([]);
    const same = await curl(h, `https://api.test:${up.port}/api/items/1`, ['-H', 'X-HTTP-Method-Override: GET']);
    expect(same.status).toBe(200);
  });

  it('refuses git push and (gitFetch off) fetch spelled with percent escapes', async () => {
    const push = await curl(h, `https://git.test:${up.port}/repo.git/info/refs?service=git-receive%2Dpack`);
    expect(push.status).toBe(403);
    expect(push.body).toContain('git push');
    const fetch = await curl(h, `https://git.test:${up.port}/repo.git/git-upload%252dpack`, ['-X', 'POST', '-d', '0000']);
    expect(fetch.status).toBe(403);
    expect(fetch.body).toContain('gitFetch');
  });
});
