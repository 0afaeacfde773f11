import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEgress, type EgressHandle } from '../../src/sidecars/egress/index.js';
import type { SuperviseHandle } from '../../src/sidecars/supervise/index.js';
import { decide } from '../../src/supervise/decide.js';
import { bottleStatePaths } from '../../src/state/paths.js';
import { fileBottleStores } from '../../src/state/store/index.js';
import { makeUpstreamPki, route, startUpstream } from '../egress/support.js';
import { connect, nextPending, startFor, tempHome, writeRoutes } from './helpers.js';

/**
 * End to end: an agent blocked by egress asks through the supervise MCP
 * server, the operator approves in the console's code path, and the very
 * same egress process (never restarted) lets the request through.
 */
describe('supervise approval reaches a running egress without restart', () => {
  let home: string;
  let cleanup: () => Promise<void>;
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let egress: EgressHandle;
  let supervise: SuperviseHandle;
  const logs: Record<string, unknown>[] = [];
  const caFile = (): string => join(bottleStatePaths('alpha', home).dir, 'ca.pem');

  beforeAll(async () => {
    ({ home, cleanup } = await tempHome());
    const pki = await makeUpstreamPki(['known.test', 'blocked.test']);
    up = await startUpstream(pki);
    const routesFile = await writeRoutes(home, 'alpha', [route('known.test', up.port)]);
    const upstreamCa = join(bottleStatePaths('alpha', home).dir, 'upstream-ca.pem');
    writeFileSync(upstreamCa, pki.caPem);
    egress = await startEgress(
      { listen: { host: '127.0.0.1', port: 0 }, routesFile, caCertOut: caFile() },
      { bottle: 'alpha', log: (e) => logs.push(e) },
      {
        BOT_BOTTLE_UPSTREAM_CA: upstreamCa,
        BOT_BOTTLE_RESOLVE: ['known.test', 'blocked.test'].map((n) => `${n}:${up.port}:127.0.0.1`).join(','),
      },
    );
    supervise = (await startFor(home, 'alpha')).handle;
  });

  afterAll(async () => {
    await agent?.close();
    await supervise.close();
    await egress.close();
    await up.close();
    await cleanup();
  });

  /**
   * One client for the whole test, which read the bottle's CA file once, as a
   * running Node program (Claude Code) does: an approved host must work in it
   * without a restart.
   */
  let agent: ProxyAgent | undefined;
  async function get(url: string): Promise<{ status: number; body: string }> {
    agent ??= new ProxyAgent({ uri: `http://${egress.address}`, requestTls: { ca: readFileSync(caFile(), 'utf8') } });
    try {
      const res = await request(url, { dispatcher: agent });
      return { status: res.statusCode, body: await res.body.text() };
    } catch (err) {
      return { status: -1, body: String(err) };
    }
  }

  it('blocked (with a 403 inside TLS saying how to ask), proposed, approved (port edited by the operator), then allowed in the same client', async () => {
    const target = `https://blocked.test:${up.port}/v1/data`;
    expect((await get(`https://known.test:${up.port}/`)).status).toBe(200);
    const refused = await get(target);
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('`egress-block` with {"host":"blocked.test"');
    expect(up.seen.some((s) => s.headers.host?.startsWith('blocked.test'))).toBe(false);

    const client = await connect(supervise.url);
    const call = client.callTool({ name: 'egress-block', arguments: { host: 'blocked.test', reason: 'fetch the data set', methods: ['GET'], paths: ['/v1'] } });
    const [p] = await nextPending(home);
    // Agents always ask for 443; the fake upstream listens elsewhere, so the operator edits the port.
    const d = await decide(home, p!.id, { status: 'modified', notes: 'port fixed', details: { ...p!.details, port: up.port } });
    expect(d.outcome).toBe('answered');
    // The console waited for egress's acknowledgement of the table holding the route.
    expect(d.outcome === 'answered' && d.applied.summary).toContain('is live');
    expect((await call).structuredContent).toMatchObject({ status: 'modified' });
    await client.close();

    // The tool result came after egress acknowledged the table with the route: no wait here.
    const store = fileBottleStores(bottleStatePaths('alpha', home)).routes;
    expect(await store.readAck()).toMatchObject({ generation: (await store.readLive())?.generation, applied: true, routes: 2 });
    expect(logs.some((l) => l.event === 'egress-routes-reloaded')).toBe(true);
    // The same client, with the trust it loaded before the approval.
    expect(await get(target)).toMatchObject({ status: 200, body: 'ok' });
    expect(up.seen.some((s) => s.headers.host?.startsWith('blocked.test') && s.url === '/v1/data')).toBe(true);
    // Only what was approved: another path on the same host stays blocked.
    expect((await get(`https://blocked.test:${up.port}/admin`)).status).toBe(403);
    // A fresh process (one that reads the CA file now) agrees: the file never changed.
    const fresh = new ProxyAgent({ uri: `http://${egress.address}`, requestTls: { ca: readFileSync(caFile(), 'utf8') } });
    try {
      expect((await request(target, { dispatcher: fresh })).statusCode).toBe(200);
    } finally {
      await fresh.close();
    }
  });

  it('a table egress refuses is reported, with the reason, to the operator and to the agent; the old table stays in force', async () => {
    const paths = bottleStatePaths('alpha', home);
    const store = fileBottleStores(paths).routes;
    // A table the schema accepts but egress does not: a path regex that is not linear-time.
    const bad = { ...route('bad.test', up.port), matches: [{ paths: [{ type: 'regex' as const, value: '(a+)+\\1' }], methods: [], headers: [] }] };
    await store.updateLive((routes) => [...routes, bad]);
    const client = await connect(supervise.url);
    const call = client.callTool({ name: 'egress-block', arguments: { host: 'other.test', reason: 'needs it' } });
    const [p] = await nextPending(home);
    const d = await decide(home, p!.id, { status: 'approved' });
    expect(d.outcome === 'answered' && d.applied.summary).toMatch(/egress refused the new route table and keeps the previous one: .*regex/);
    const result = (await call).structuredContent as { status: string; notes: string };
    expect(result.status).toBe('approved');
    expect(result.notes).toMatch(/egress refused the new route table .*not live: .*regex/);
    await client.close();
    expect(await store.readAck()).toMatchObject({ applied: false, generation: (await store.readLive())?.generation });
    // Still the table from before the bad write: the route approved in the first test works, the new host does not.
    expect((await get(`https://known.test:${up.port}/`)).status).toBe(200);
    expect((await get(`https://other.test:${up.port}/`)).status).toBe(403);
  });
});
