import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingTool } from '../support/prereq.js';
import { curl, fakeGithubToken, lastAudit, makeUpstreamPki, route, startHarness, startUpstream, type Harness } from './support.js';
import { RawWs, startWsUpstream } from './websocket-support.js';

const noCurl = missingTool('curl');

/** Issue 13 finding 4: a secret in a header *name* leaves as easily as one in a value. */
describe.skipIf(noCurl)('egress outbound DLP on header names (HTTPS, plain HTTP, WebSocket)', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let wsUp: Awaited<ReturnType<typeof startWsUpstream>>;
  let plain: Server;
  const plainSeen: IncomingHttpHeaders[] = [];
  let h: Harness;
  const known = ['kn', 'own-', 'slot-', 'secret-', 'Value-', '4711'].join('');
  const hexUpper = Buffer.from(known).toString('hex').toUpperCase();

  beforeAll(async () => {
    const pki = await makeUpstreamPki(['names.test', 'redact.test', 'ws.test']);
    up = await startUpstream(pki);
    wsUp = await startWsUpstream(pki);
    plain = createServer((req, res) => {
      plainSeen.push(req.headers);
      res.end('plain ok');
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    const plainPort = (plain.address() as AddressInfo).port;
    const p = up.port;
    h = await startHarness(
      pki,
      [
        route('names.test', p, { auth: { scheme: 'Bearer', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'HOST_TOKEN' } }),
        route('redact.test', p, { dlp: { outbound: ['token_patterns', 'known_secrets'], inbound: [], onMatch: 'redact' } }),
        route('plain.test', plainPort),
        route('ws.test', wsUp.port),
      ],
      {
        env: { EGRESS_TOKEN_0: known },
        resolve: [`names.test:${p}:127.0.0.1`, `redact.test:${p}:127.0.0.1`, `plain.test:${plainPort}:127.0.0.1`, `ws.test:${wsUp.port}:127.0.0.1`].join(','),
      },
    );
  });
  afterAll(async () => {
    await h?.close();
    await up?.close();
    await wsUp?.close();
    await new Promise<void>((r) => (plain ? plain.close(() => r()) : r()));
  });

  const sawName = (headers: IncomingHttpHeaders, part: string): boolean => Object.keys(headers).some((n) => n.includes(part.toLowerCase()));

  it('HTTPS: refuses a known secret as a header name, in its own case and as upper-case hex', async () => {
    for (const name of [`X-${known}`, `X-${hexUpper}`]) {
      const r = await curl(h, `https://names.test:${up.port}/ok`, ['-H', `${name}: 1`]);
      expect(r.status, name).toBe(403);
      expect(r.body).toContain('known_secrets/known-secret in header name');
      const audit = lastAudit(h) as { decision: string; stage: string; findings: { where: string; masked: string }[] };
      expect(audit).toMatchObject({ decision: 'block', stage: 'outbound-dlp' });
      expect(audit.findings).toContainEqual(expect.objectContaining({ where: 'header name', masked: '****' }));
    }
    expect(up.seen.some((s) => sawName(s.headers, known.slice(0, 12)) || sawName(s.headers, hexUpper.slice(0, 12)))).toBe(false);
  });

  it('HTTPS: refuses a token-shaped header name; the value of that header is audited without its name', async () => {
    const gh = fakeGithubToken('n');
    const r = await curl(h, `https://names.test:${up.port}/ok`, ['-H', `X-${gh}: ${fakeGithubToken('v')}`]);
    expect(r.status).toBe(403);
    expect(r.body).toMatch(/token_patterns\/github-pat in header name/);
    const audit = lastAudit(h) as { findings: { where: string; masked: string }[] };
    expect(audit.findings.map((f) => f.where).sort()).toEqual(['header name', 'header:(name withheld)']);
    expect(audit.findings.every((f) => f.masked === 'ghp_****')).toBe(true);
    expect(JSON.stringify(h.logs)).not.toContain(gh.slice(4, 16));
  });

  it('redact mode refuses a secret in a header name (a name cannot be redacted)', async () => {
    const r = await curl(h, `https://redact.test:${up.port}/ok`, ['-H', `X-${known}: 1`]);
    expect(r.status).toBe(403);
    expect(r.body).toContain('cannot be redacted');
  });

  it('plain HTTP: refuses a known secret as a header name', async () => {
    const r = await curl(h, `http://plain.test:${(plain.address() as AddressInfo).port}/`, ['-H', `X-${known}: 1`]);
    expect(r.status).toBe(403);
    expect(plainSeen.some((s) => sawName(s, known.slice(0, 12)))).toBe(false);
  });

  it('WebSocket upgrade: refuses a known secret as a header name before anything reaches the upstream', async () => {
    const before = wsUp.upgrades.length;
    const ws = await RawWs.open({ proxy: h.proxyUrl, host: 'ws.test', port: wsUp.port, path: '/socket', caPem: readFileSync(h.caFile, 'utf8'), headers: { [`X-${hexUpper}`]: '1' } });
    expect(ws.status).toBe(403);
    expect(await ws.rest()).toContain('header name');
    ws.close();
    expect(wsUp.upgrades.length).toBe(before);
  });

  it('clean requests with ordinary header names still pass', async () => {
    const r = await curl(h, `https://names.test:${up.port}/ok`, ['-H', 'X-Request-Id: 42', '-H', 'Accept: text/plain']);
    expect(r.status).toBe(200);
    expect(up.seen.at(-1)!.headers.authorization).toBe(`Bearer ${known}`);
  });

  it('the audit line carries the path with a secret in it replaced', async () => {
    const r = await curl(h, `https://names.test:${up.port}/files/${known}/x`);
    expect(r.status).toBe(403);
    const audit = lastAudit(h) as { path: string };
    expect(audit.path).toBe('/files/[REDACTED:known-secret]/x');
    expect(JSON.stringify(h.logs)).not.toContain(known.slice(0, 12));
  });
});
