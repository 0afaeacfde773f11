import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { BUNDLE_NODE_FLAGS } from '../../src/sidecars/node-flags.js';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeGithubToken, makeUpstreamPki, route, startUpstream } from './support.js';

/**
 * The real sidecars bundle (minified, code-split, daemons and undici loaded on
 * use), built into a temp dir: the source-level tests cannot catch what only
 * the bundler changes (e.g. how a lazily imported CommonJS module's exports look).
 */
describe('dist/sidecars.js bundle (egress)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'egress-bundle-'));
  let up: Awaited<ReturnType<typeof startUpstream>>;
  const spawnBundle = (args: string[], env: Record<string, string>) => execa('node', args, { reject: false, timeout: 25_000, env });
  let child: ReturnType<typeof spawnBundle> | undefined;
  let agent: ProxyAgent;
  let ready: Record<string, unknown>;
  const lines: Record<string, unknown>[] = [];
  const token = ['bundle', 'token', 'value', '0123456789'].join('-');

  beforeAll(async () => {
    await execa('node', ['scripts/build.mjs', 'sidecars', join(dir, 'dist')]);
    const pki = await makeUpstreamPki(['routed.test']);
    up = await startUpstream(pki, (req, res, body) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`${req.method} ${body.length} ${req.headers.authorization ?? '-'}`);
    });
    const upCa = join(dir, 'upstream-ca.pem');
    writeFileSync(upCa, pki.caPem);
    const routes = join(dir, 'routes.json');
    writeFileSync(routes, JSON.stringify([route('routed.test', up.port, { auth: { scheme: 'Bearer', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'T' } })]));
    const cfg = join(dir, 'sidecars.json');
    const caCertOut = join(dir, 'ca.pem');
    // The token through the secrets file (0600), as the launcher hands it over; never the environment.
    const secretsFile = join(dir, 'secrets.json');
    writeFileSync(secretsFile, JSON.stringify({ EGRESS_TOKEN_0: token }), { mode: 0o600 });
    writeFileSync(cfg, JSON.stringify({ bottle: 'bundle', secretsFile, egress: { listen: { host: '127.0.0.1', port: 0 }, routesFile: routes, caCertOut } }));
    // With the launchers' node flags, so a flag this node rejects fails here.
    const c = spawnBundle([...BUNDLE_NODE_FLAGS, join(dir, 'dist', 'sidecars.js'), '--config', cfg], {
      BOT_BOTTLE_UPSTREAM_CA: upCa,
      BOT_BOTTLE_RESOLVE: `routed.test:${up.port}:127.0.0.1`,
    });
    child = c;
    ready = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ready line: ${JSON.stringify(lines)}`)), 20_000);
      let buf = '';
      c.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const parts = buf.split('\n');
        buf = parts.pop()!;
        for (const p of parts) {
          if (!p.trim()) continue;
          const o = JSON.parse(p) as Record<string, unknown>;
          lines.push(o);
          if (o.event === 'ready') {
            clearTimeout(t);
            resolve(o);
          }
        }
      });
    });
    const listen = (ready.egress as { listen: string }).listen;
    agent = new ProxyAgent({ uri: `http://${listen}`, requestTls: { ca: readFileSync(caCertOut, 'utf8') } });
  }, 60_000);

  afterAll(async () => {
    await agent?.close();
    if (child?.pid !== undefined) child.kill('SIGTERM');
    await child;
    await up?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports ready with the egress listener and CA path', () => {
    expect(ready).toMatchObject({ event: 'ready', bottle: 'bundle', egress: { caCert: join(dir, 'ca.pem') } });
  });

  it('forwards a GET and a streamed POST body (DLP on) with the injected token', async () => {
    const g = await request(`https://routed.test:${up.port}/small`, { dispatcher: agent });
    expect(g.statusCode).toBe(200);
    expect(await g.body.text()).toBe(`GET 0 Bearer ${token}`);
    const body = Buffer.alloc(300_000, 'lorem ipsum dolor sit amet ');
    const p = await request(`https://routed.test:${up.port}/upload`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'text/plain' }, body });
    expect(p.statusCode).toBe(200);
    expect(await p.body.text()).toBe(`POST ${body.length} Bearer ${token}`);
  });

  it('still blocks a known secret in a body sent through the bundle', async () => {
    const r = await request(`https://routed.test:${up.port}/upload`, { dispatcher: agent, method: 'POST', body: `x=${fakeGithubToken('bundle')}` });
    expect(r.statusCode).toBe(403);
    expect(await r.body.text()).toContain('outbound-dlp');
  });

  it('stops cleanly on SIGTERM', async () => {
    child!.kill('SIGTERM');
    const r = await child!;
    child = undefined;
    expect(r.exitCode).toBe(0);
    expect(lines.some((l) => l.event === 'stopped')).toBe(true);
  });
});
