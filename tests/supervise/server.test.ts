import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EgressRoutePlan } from '../../src/routes/model.js';
import type { SuperviseHandle } from '../../src/sidecars/supervise/index.js';
import { decide } from '../../src/supervise/decide.js';
import { bottleStatePaths, homePaths } from '../../src/state/paths.js';
import { connect, manifestRoute, nextPending, startFor, tempHome, writeRoutes } from './helpers.js';

let home: string;
let cleanup: () => Promise<void>;
const handles: SuperviseHandle[] = [];
const clients: Client[] = [];

beforeEach(async () => {
  ({ home, cleanup } = await tempHome());
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => undefined);
  for (const h of handles.splice(0)) await h.close();
  await cleanup();
});

async function setup(slug = 'alpha', opts: Parameters<typeof startFor>[2] = {}): Promise<Client> {
  await writeRoutes(home, slug, [manifestRoute]);
  const { handle } = await startFor(home, slug, opts);
  handles.push(handle);
  const client = await connect(handle.url);
  clients.push(client);
  return client;
}

type Structured = { status: string; notes: string; proposal_id: string; details?: Record<string, unknown> };

async function readRoutesFile(slug: string): Promise<EgressRoutePlan[]> {
  return JSON.parse(await readFile(bottleStatePaths(slug, home).egressRoutes, 'utf8')) as EgressRoutePlan[];
}

describe('supervise MCP server (real SDK client over 127.0.0.1)', () => {
  it('lists the tools and the routes without token slots or values', async () => {
    const client = await setup();
    const tools = (await client.listTools()).tools.map((t) => t.name).sort();
    expect(tools).toEqual(['capability-block', 'egress-block', 'list-egress-routes']);
    const res = await client.callTool({ name: 'list-egress-routes', arguments: {} });
    const routes = (res.structuredContent as { routes: Record<string, unknown>[] }).routes;
    expect(routes).toEqual([
      { host: 'api.github.com', port: 443, matches: [], auth: { scheme: 'Bearer', token_ref: 'GITHUB_TOKEN' }, source: 'manifest', git_fetch: false },
    ]);
    expect(JSON.stringify(res)).not.toContain('EGRESS_TOKEN_0');
  });

  it.each([
    [{ host: '10.0.0.1', reason: 'x' }, 'IP literal'],
    [{ host: '[::1]', reason: 'x' }, 'IP literal'],
    [{ host: 'https://example.com/x', reason: 'x' }, 'not a valid host name'],
    [{ host: 'localhost', reason: 'x' }, 'not a valid host name'],
    [{ host: 'example.com', reason: 'x', paths: ['v1/x'] }, 'must start with'],
    [{ host: 'example.com', reason: 'x', methods: ['FETCH'] }, 'unknown HTTP method'],
    [{ host: 'example.com' }, 'reason'],
    [{ host: 'example.com', reason: 'x', extra: 1 }, 'extra'],
    [{ host: 'example.com', reason: 'ok \u001b]52;c;bad\u0007' }, 'control characters'],
  ])('rejects bad egress-block input %j with a clear error', async (args, message) => {
    const client = await setup();
    const res = await client.callTool({ name: 'egress-block', arguments: args });
    expect(res.isError).toBe(true);
    expect(JSON.stringify(res.content)).toContain(message);
    expect(await nextPending(home, 0)).toEqual([]);
  });

  it('egress-block approved: route live in the routes file and kept for resume', async () => {
    const client = await setup();
    const call = client.callTool({ name: 'egress-block', arguments: { host: 'Registry.NPMJS.org', reason: 'npm install', methods: ['get'], paths: ['/react'] } });
    const [p] = await nextPending(home);
    expect(p).toMatchObject({ slug: 'alpha', kind: 'egress-block', details: { host: 'registry.npmjs.org', methods: ['GET'], paths: ['/react'] } });
    const d = await decide(home, p!.id, { status: 'approved', notes: 'ok' }, 'operator:test');
    expect(d.outcome).toBe('answered');
    const res = await call;
    expect(res.structuredContent).toMatchObject({ status: 'approved', notes: 'ok', proposal_id: p!.id });
    const routes = await readRoutesFile('alpha');
    expect(routes).toHaveLength(2);
    expect(routes[1]).toEqual({
      host: 'registry.npmjs.org',
      port: 443,
      matches: [{ methods: ['GET'], paths: [{ type: 'prefix', value: '/react' }], headers: [] }],
      dlp: { outbound: ['token_patterns', 'known_secrets'], inbound: ['naive_injection_detection'], onMatch: 'supervise' },
      gitFetch: false,
      source: 'supervise',
    });
    const approved = JSON.parse(await readFile(bottleStatePaths('alpha', home).approvedRoutes, 'utf8')) as EgressRoutePlan[];
    expect(approved.map((r) => r.host)).toEqual(['registry.npmjs.org']);
    const audit = await readFile(`${homePaths(home).queueRoot}/audit.jsonl`, 'utf8');
    expect(audit).toContain('"event":"approved"');
    expect(audit).toContain('"by":"operator:test"');
    expect(audit).toContain('"event":"applied"');
  });

  it('egress-block modified: the edited route is applied and returned', async () => {
    const client = await setup();
    const call = client.callTool({ name: 'egress-block', arguments: { host: 'pypi.org', reason: 'pip' } });
    const [p] = await nextPending(home);
    await decide(home, p!.id, { status: 'modified', notes: 'GET only', details: { host: 'pypi.org', reason: 'pip', methods: ['GET'] } });
    const res = (await call).structuredContent as Structured;
    expect(res.status).toBe('modified');
    expect(res.details).toMatchObject({ methods: ['GET'] });
    const route = (await readRoutesFile('alpha')).find((r) => r.host === 'pypi.org');
    expect(route?.matches).toEqual([{ methods: ['GET'], paths: [], headers: [] }]);
  });

  it('an invalid edit is refused before anything is answered', async () => {
    const client = await setup();
    const call = client.callTool({ name: 'egress-block', arguments: { host: 'pypi.org', reason: 'pip' } });
    const [p] = await nextPending(home);
    await expect(decide(home, p!.id, { status: 'modified', details: { host: '1.2.3.4', reason: 'pip' } })).rejects.toThrow(/IP literal/);
    await decide(home, p!.id, { status: 'rejected', notes: 'use the mirror' });
    expect(((await call).structuredContent as Structured).status).toBe('rejected');
  });

  it('egress-block rejected: reason returned, routes untouched', async () => {
    const client = await setup();
    const call = client.callTool({ name: 'egress-block', arguments: { host: 'evil.example.com', reason: 'curious' } });
    const [p] = await nextPending(home);
    await decide(home, p!.id, { status: 'rejected', notes: 'not needed for this task' });
    expect((await call).structuredContent).toMatchObject({ status: 'rejected', notes: 'not needed for this task' });
    expect(await readRoutesFile('alpha')).toEqual([manifestRoute]);
  });

  it('capability-block approved is recorded for the next resume', async () => {
    const client = await setup();
    const call = client.callTool({ name: 'capability-block', arguments: { change: 'apt-get install -y jq', reason: 'parse JSON' } });
    const [p] = await nextPending(home);
    expect(p?.kind).toBe('capability-block');
    await decide(home, p!.id, { status: 'approved' });
    expect(((await call).structuredContent as Structured).status).toBe('approved');
    const caps = JSON.parse(await readFile(bottleStatePaths('alpha', home).approvedCapabilities, 'utf8')) as unknown[];
    expect(caps).toMatchObject([{ id: p!.id, change: 'apt-get install -y jq', reason: 'parse JSON' }]);
  });

  it('times out with status timeout; a later approval is late and not applied', async () => {
    const client = await setup('alpha', { proposalTimeoutMs: 1000 });
    const res = await client.callTool({ name: 'egress-block', arguments: { host: 'slow.example.com', reason: 'x' } });
    const s = res.structuredContent as Structured;
    expect(s.status).toBe('timeout');
    const late = await decide(home, s.proposal_id, { status: 'approved' });
    expect(late.outcome).toBe('late');
    expect(await readRoutesFile('alpha')).toEqual([manifestRoute]);
    const audit = await readFile(`${homePaths(home).queueRoot}/audit.jsonl`, 'utf8');
    expect(audit).toContain('"event":"late"');
    expect(audit).not.toContain('"event":"applied"');
  });

  it('sends progress notifications while waiting so the client does not time out', async () => {
    const client = await setup('alpha', { progressIntervalMs: 100 });
    let progress = 0;
    const call = client.callTool({ name: 'egress-block', arguments: { host: 'wait.example.com', reason: 'x' } }, undefined, {
      timeout: 600,
      resetTimeoutOnProgress: true,
      onprogress: () => {
        progress++;
      },
    });
    const [p] = await nextPending(home);
    // Wait past the client's own 600 ms timeout: only progress keeps it alive.
    while (progress < 10) await new Promise((r) => setTimeout(r, 50));
    await decide(home, p!.id, { status: 'approved' });
    expect(((await call).structuredContent as Structured).status).toBe('approved');
    expect(progress).toBeGreaterThanOrEqual(10);
  });

  it('survives a server restart mid-wait: the retried call gets the answer given while it was down', async () => {
    await writeRoutes(home, 'alpha', [manifestRoute]);
    const first = await startFor(home, 'alpha');
    const client = await connect(first.handle.url);
    clients.push(client);
    const call = client.callTool({ name: 'egress-block', arguments: { host: 'restart.example.com', reason: 'x' } }).catch((e: Error) => e);
    const [p] = await nextPending(home);
    await first.handle.close();
    await client.close();
    expect(await call).toBeInstanceOf(Error);
    expect((await nextPending(home)).map((x) => x.id)).toEqual([p!.id]);
    // Operator answers while the server is down: nothing is lost.
    await decide(home, p!.id, { status: 'approved' });
    const second = await startFor(home, 'alpha');
    handles.push(second.handle);
    const again = await connect(second.handle.url);
    clients.push(again);
    const res = await again.callTool({ name: 'egress-block', arguments: { host: 'restart.example.com', reason: 'x' } });
    expect(res.structuredContent).toMatchObject({ status: 'approved', proposal_id: p!.id });
    expect((await readRoutesFile('alpha')).map((r) => r.host)).toContain('restart.example.com');
  });

  it('keeps concurrent proposals from two bottles apart', async () => {
    const a = await setup('alpha');
    const b = await setup('beta');
    const ca = a.callTool({ name: 'egress-block', arguments: { host: 'a.example.com', reason: 'a' } });
    const cb = b.callTool({ name: 'egress-block', arguments: { host: 'b.example.com', reason: 'b' } });
    const pending = await nextPending(home, 2);
    expect(pending.map((p) => p.slug).sort()).toEqual(['alpha', 'beta']);
    for (const p of pending) await decide(home, p.id, p.slug === 'alpha' ? { status: 'approved' } : { status: 'rejected', notes: 'no' });
    expect(((await ca).structuredContent as Structured).status).toBe('approved');
    expect(((await cb).structuredContent as Structured).status).toBe('rejected');
    expect((await readRoutesFile('alpha')).map((r) => r.host)).toEqual(['api.github.com', 'a.example.com']);
    expect((await readRoutesFile('beta')).map((r) => r.host)).toEqual(['api.github.com']);
  });

  it('refuses a foreign Host header (DNS rebinding) with 403', async () => {
    await setup();
    const url = new URL(handles[0]!.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: url.port, path: '/mcp', method: 'POST', headers: { host: 'evil.example', 'content-type': 'application/json', accept: 'application/json, text/event-stream' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }));
    });
    expect(status).toBe(403);
  });
});
