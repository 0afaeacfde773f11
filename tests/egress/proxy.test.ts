import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingTool } from '../support/prereq.js';
import { curl, fakeGithubToken, lastAudit, makeUpstreamPki, route, startHarness, startUpstream, undiciClient, type Harness } from './support.js';

const noCurl = missingTool('curl');

describe.skipIf(noCurl)('egress proxy: allowlist, token injection, deny rules (curl + undici)', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let h: Harness;
  const token = ['tok', 'en-', 'real-', 'value-', '12345'].join('');

  beforeAll(async () => {
    const pki = await makeUpstreamPki(['routed.test', 'api.routed.test', 'plain.test', 'git.test', 'other.test']);
    up = await startUpstream(pki);
    const p = up.port;
    h = await startHarness(
      pki,
      [
        route('routed.test', p, { auth: { scheme: 'Bearer', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'HOST_TOKEN' } }),
        route('*.routed.test', p, { matches: [{ paths: [{ type: 'prefix', value: '/v1/' }], methods: ['GET'], headers: [] }] }),
        route('git.test', p, { gitFetch: true }),
        route('localhost', p),
      ],
      {
        env: { EGRESS_TOKEN_0: token },
        resolve: ['routed.test', 'api.routed.test', 'git.test', 'missing.test', 'other.test', 'private.test'].map((n) => `${n}:${p}:127.0.0.1`).join(','),
      },
    );
  });
  afterAll(async () => {
    await h?.close();
    await up?.close();
  });

  it('writes only the public CA certificate', () => {
    const pem = readFileSync(h.caFile, 'utf8');
    expect(pem).toContain('BEGIN CERTIFICATE');
    expect(pem).not.toContain('PRIVATE KEY');
  });

  it('injects the route token and strips the agent credential (curl)', async () => {
    const r = await curl(h, `https://routed.test:${up.port}/hello`, ['-H', 'Authorization: Bearer fake-agent-token']);
    expect(r.status).toBe(200);
    expect(r.body).toBe('ok');
    const seen = up.seen.at(-1)!;
    expect(seen.headers.authorization).toBe(`Bearer ${token}`);
    expect(seen.headers['proxy-authorization']).toBeUndefined();
    const audit = lastAudit(h)!;
    expect(audit.decision).toBe('allow');
    expect(JSON.stringify(h.logs)).not.toContain(token);
  });

  it('keeps keep-alive across requests and injects for the undici ProxyAgent too', async () => {
    const c = undiciClient(h, readFileSync(h.caFile, 'utf8'));
    for (let i = 0; i < 3; i++) {
      const r = await c.fetch(`https://routed.test:${up.port}/n${i}`);
      expect(r.status).toBe(200);
      expect(up.seen.at(-1)!.headers.authorization).toBe(`Bearer ${token}`);
    }
    await c.agent.close();
  });

  it('refuses unrouted HTTPS hosts inside TLS with a 403 that says how to ask (curl sees the body, not a CONNECT failure)', async () => {
    const r = await curl(h, `https://other.test:${up.port}/docs?q=1`);
    expect(r.exitCode).toBe(0);
    expect(r.status).toBe(403);
    expect(r.body).toContain(`bot-bottle egress blocked GET other.test/docs`);
    expect(r.body).toContain('stage: route');
    expect(r.body).toContain('not in this bottle');
    expect(r.body).toContain('`egress-block` with {"host":"other.test"');
    expect(up.seen.some((s) => s.headers.host?.startsWith('other.test'))).toBe(false);
    expect(lastAudit(h)).toMatchObject({ decision: 'block', stage: 'route', host: 'other.test', status: 403 });
    const plain = await curl(h, `http://other.test:${up.port}/x`);
    expect(plain.status).toBe(403);
    expect(plain.body).toContain('not in this bottle');
    expect(plain.body).toContain('egress-block');
  });

  it('refuses IP-literal destinations, over HTTPS inside TLS too', async () => {
    const r = await curl(h, `http://127.0.0.1:${up.port}/`);
    expect(r.status).toBe(403);
    expect(r.body).toContain('IP-literal');
    const viaConnect = await curl(h, `https://127.0.0.1:${up.port}/`);
    expect(viaConnect.status).toBe(403);
    expect(viaConnect.body).toContain('stage: destination');
    expect(viaConnect.body).toContain('use the name of the service');
    const v6 = await curl(h, `https://[::1]:${up.port}/`);
    expect(v6.status).toBe(403);
    expect(v6.body).toContain('IP-literal');
  });

  it('refuses a port other than the route port inside TLS, advising the route port', async () => {
    const r = await curl(h, `https://routed.test:${up.port + 1}/`);
    expect(r.status).toBe(403);
    expect(r.body).toContain(`use port ${up.port}`);
    expect(lastAudit(h)!.reason).toContain('allows only port');
  });

  it('applies route matches (path prefix and method) on wildcard routes', async () => {
    expect((await curl(h, `https://api.routed.test:${up.port}/v1/items`)).status).toBe(200);
    const bad = await curl(h, `https://api.routed.test:${up.port}/v2/items`);
    expect(bad.status).toBe(403);
    expect(bad.body).toContain('does not match');
    // The advice asks for exactly the method and path that were refused, on a host that is already routed.
    expect(bad.body).toContain('api.routed.test is routed, but not for this method and path');
    expect(bad.body).toContain('{"host":"api.routed.test","methods":["GET"],"paths":["/v2/items"]');
    const post = await curl(h, `https://api.routed.test:${up.port}/v1/items`, ['-X', 'POST', '-d', 'x=1']);
    expect(post.status).toBe(403);
  });

  it('never sends a token over plain http', async () => {
    const r = await curl(h, `http://routed.test:${up.port}/`);
    expect(r.status).toBe(403);
    expect(r.body).toContain('never sent over plain http');
  });

  it('blocks git push always and git fetch unless gitFetch', async () => {
    const push = await curl(h, `https://git.test:${up.port}/repo.git/info/refs?service=git-receive-pack`);
    expect(push.status).toBe(403);
    expect(push.body).toContain('git push');
    const fetchOk = await curl(h, `https://git.test:${up.port}/repo.git/info/refs?service=git-upload-pack`);
    expect(fetchOk.status).toBe(200);
    const fetchNo = await curl(h, `https://routed.test:${up.port}/repo.git/git-upload-pack`, ['-X', 'POST', '-d', '0000']);
    expect(fetchNo.status).toBe(403);
    expect(fetchNo.body).toContain('gitFetch');
  });

  it('refuses to start when a token slot it serves has no value, naming the slot and the host variable', async () => {
    const missing = [route('missing.test', up.port, { auth: { scheme: 'token', tokenSlot: 'EGRESS_TOKEN_MISSING', tokenRef: 'NOPE' } })];
    await expect(startHarness(await makeUpstreamPki(['missing.test']), missing, { env: { EGRESS_TOKEN_0: 'x'.repeat(20) }, resolve: '' })).rejects.toThrow(
      /egress has no value for token slot EGRESS_TOKEN_MISSING \(host variable NOPE\)/,
    );
  });

  it('refuses a Host header that differs from the CONNECT target (domain fronting)', async () => {
    const r = await curl(h, `https://routed.test:${up.port}/`, ['-H', `Host: other.test:${up.port}`]);
    expect(r.status).toBe(403);
    expect(r.body).toContain('differs from the target');
  });

  it('answers the route table at http://_egress.local/allowlist without token values', async () => {
    const r = await curl(h, 'http://_egress.local/allowlist');
    expect(r.status).toBe(200);
    const j = JSON.parse(r.body) as { routes: { host: string; auth?: unknown }[] };
    expect(j.routes.map((x) => x.host)).toContain('routed.test');
    expect(r.body).not.toContain(token);
    expect(r.body).toContain('HOST_TOKEN');
  });

  it('blocks a known token in the request body (outbound DLP, block mode)', async () => {
    const r = await curl(h, `https://api.routed.test:${up.port}/v1/x`, ['-H', `X-Leak: ${fakeGithubToken('b')}`]);
    expect(r.status).toBe(403);
    expect(r.body).toMatch(/token_patterns\/github/);
    expect(r.body).not.toContain(fakeGithubToken('b'));
    expect(JSON.stringify(h.logs)).not.toContain(fakeGithubToken('b'));
    // A DLP refusal on a routed host: asking for that host again would change nothing.
    expect(r.body).toContain('refused for what it carries');
    expect(r.body).not.toContain('`egress-block` with');
  });

  it('an SSRF refusal does not advise asking for the (routed) host', async () => {
    // localhost is routed but not mapped by BOT_BOTTLE_RESOLVE: the system resolves it to loopback.
    const r = await curl(h, `https://localhost:${up.port}/`);
    expect(r.status).toBe(403);
    expect(r.body).toContain('stage: ssrf');
    expect(r.body).toContain('approving a route cannot change that');
    expect(r.body).not.toContain('`egress-block` with');
  });
});
