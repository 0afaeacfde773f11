import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEgress, type EgressHandle } from '../../src/sidecars/egress/index.js';
import type { SuperviseHandle } from '../../src/sidecars/supervise/index.js';
import { decide } from '../../src/supervise/decide.js';
import { bottleStatePaths } from '../../src/state/paths.js';
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
    await supervise.close();
    await egress.close();
    await up.close();
    await cleanup();
  });

  async function get(url: string): Promise<number> {
    // A fresh agent each time: approving a new host may re-mint the egress CA.
    const agent = new ProxyAgent({ uri: `http://${egress.address}`, requestTls: { ca: readFileSync(caFile(), 'utf8') } });
    try {
      const res = await request(url, { dispatcher: agent });
      await res.body.dump();
      return res.statusCode;
    } catch {
      return -1; // CONNECT refused
    } finally {
      await agent.close();
    }
  }

  it('blocked, proposed, approved (port edited by the operator), then allowed', async () => {
    const target = `https://blocked.test:${up.port}/v1/data`;
    expect(await get(`https://known.test:${up.port}/`)).toBe(200);
    expect(await get(target)).not.toBe(200);
    expect(up.seen.some((s) => s.headers.host?.startsWith('blocked.test'))).toBe(false);

    const client = await connect(supervise.url);
    const call = client.callTool({ name: 'egress-block', arguments: { host: 'blocked.test', reason: 'fetch the data set', methods: ['GET'], paths: ['/v1'] } });
    const [p] = await nextPending(home);
    // Agents always ask for 443; the fake upstream listens elsewhere, so the operator edits the port.
    const d = await decide(home, p!.id, { status: 'modified', notes: 'port fixed', details: { ...p!.details, port: up.port } });
    expect(d.outcome).toBe('answered');
    expect((await call).structuredContent).toMatchObject({ status: 'modified' });
    await client.close();

    // The tool result waits for the route to be in the routes file; egress's reload follows within its debounce.
    for (let i = 0; i < 100 && !logs.some((l) => l.event === 'egress-routes-reloaded'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(logs.some((l) => l.event === 'egress-routes-reloaded')).toBe(true);
    expect(await get(target)).toBe(200);
    expect(up.seen.some((s) => s.headers.host?.startsWith('blocked.test') && s.url === '/v1/data')).toBe(true);
    // Only what was approved: another path on the same host stays blocked.
    expect(await get(`https://blocked.test:${up.port}/admin`)).not.toBe(200);
  });
});
