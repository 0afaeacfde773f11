import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManifestCatalog } from '../../src/manifest/catalog.js';
import { resolvePlan } from '../../src/plan/resolve.js';
import { tempHome } from '../support/home.js';
import { missingTool } from '../support/prereq.js';
import { curl, makeUpstreamPki, route, startHarness, startUpstream, type Harness } from './support.js';

/**
 * A route's credential may go into a named header (an Anthropic Console key
 * is `x-api-key: <key>`), not only `Authorization: <scheme> <token>`. The
 * agent's own value for that header never reaches the upstream.
 */
const noCurl = missingTool('curl');

describe.skipIf(noCurl)('egress: token injection into a named header', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let h: Harness;
  const token = ['real', '-api-', 'key-', 'value-', '98765'].join('');

  beforeAll(async () => {
    const pki = await makeUpstreamPki(['key.test', 'scheme.test']);
    up = await startUpstream(pki);
    h = await startHarness(
      pki,
      [
        route('key.test', up.port, { auth: { header: 'x-api-key', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'MY_KEY' } }),
        route('scheme.test', up.port, { auth: { scheme: 'Token', header: 'x-auth', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'MY_KEY' } }),
      ],
      { env: { EGRESS_TOKEN_0: token }, resolve: `key.test:${up.port}:127.0.0.1,scheme.test:${up.port}:127.0.0.1` },
    );
  });
  afterAll(async () => {
    await h?.close();
    await up?.close();
  });

  it('replaces the agent\'s placeholder in that header and leaves Authorization alone', async () => {
    const r = await curl(h, `https://key.test:${up.port}/v1/messages`, ['-H', 'x-api-key: placeholder', '-H', 'authorization: Bearer agents-own']);
    expect(r.status).toBe(200);
    const seen = up.seen.find((s) => s.url === '/v1/messages');
    expect(seen?.headers['x-api-key']).toBe(token);
    expect(seen?.headers.authorization).toBe('Bearer agents-own');
  });

  it('puts the scheme in front of the token when both are given, and adds the header when the agent sent none', async () => {
    const r = await curl(h, `https://scheme.test:${up.port}/x`);
    expect(r.status).toBe(200);
    expect(up.seen.find((s) => s.url === '/x')?.headers['x-auth']).toBe(`Token ${token}`);
  });

  it('shows the agent the header, never the value', async () => {
    const r = await curl(h, 'http://_egress.local/allowlist');
    expect(r.body).toMatch(/"header": ?"x-api-key"/);
    expect(r.body).not.toContain(token);
  });
});

describe('manifest: route auth with a header', () => {
  const planWith = (auth: string) => {
    const t = tempHome();
    try {
      t.writeBottle('b', `agent_provider: {template: shell}\negress:\n  routes:\n    - host: api.example.com\n      auth: ${auth}`);
      t.writeAgent('a', 'bottle: b');
      return resolvePlan(new ManifestCatalog({ home: t.home, cwd: t.cwd, userHome: t.userHome }), {
        agent: 'a', bottles: [], backend: 'bwrap', backendReason: 't', slug: 'a-1', cwd: t.cwd, copyCwd: false,
        mode: { kind: 'interactive' }, home: t.home, hostEnv: { K: 'v' }, userHome: t.userHome,
      });
    } finally {
      t.cleanup();
    }
  };

  it('plans a header (lower-cased) with or without a scheme', () => {
    expect(planWith('{header: X-Api-Key, token_ref: K}').sidecars.egress.routes[0]?.auth).toEqual({ header: 'x-api-key', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'K' });
    expect(planWith('{scheme: Bearer, token_ref: K}').sidecars.egress.routes[0]?.auth).toEqual({ scheme: 'Bearer', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'K' });
  });

  it('refuses auth with neither, and headers that frame the request', () => {
    expect(() => planWith('{token_ref: K}')).toThrow(/auth needs a scheme .* or a header/);
    expect(() => planWith('{header: Host, token_ref: K}')).toThrow(/cannot carry a credential/);
    expect(() => planWith('{header: "x api key", token_ref: K}')).toThrow(/HTTP header name/);
  });
});
