// The bundle's first proxied HTTPS request: spawn → ready, then (after a pause standing in for
// the agent's own start) one curl through egress to a routed loopback upstream, as an agent's
// first model-API call would be. Median of N runs per bundle, bundles alternated.
// `node --import tsx bench/egress-first-request.ts [runs] [bundle.js ...]` (npm run build first).
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUNDLE_NODE_FLAGS } from '../src/sidecars/node-flags.js';
import { makeUpstreamPki, route, startUpstream } from '../tests/egress/support.js';

const args = process.argv.slice(2);
const runs = Number(args.find((a) => /^\d+$/.test(a)) ?? 7);
const bundles = args.filter((a) => a.endsWith('.js'));
if (bundles.length === 0) bundles.push('dist/sidecars.js');
const PAUSE_MS = Number(process.env.BENCH_PAUSE_MS ?? 300);
const dir = mkdtempSync(join(tmpdir(), 'egress-first-'));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const pki = await makeUpstreamPki(['api.test']);
const upstream = await startUpstream(pki);
try {
  const routes = join(dir, 'routes.json');
  writeFileSync(routes, JSON.stringify([route('api.test', upstream.port, { auth: { scheme: 'Bearer', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'BENCH_TOKEN' } })]));
  const caFile = join(dir, 'upstream-ca.pem');
  writeFileSync(caFile, pki.caPem);
  const queue = join(dir, 'queue');
  mkdirSync(queue);
  const cfg = join(dir, 'sidecars.json');
  const caOut = join(dir, 'ca.pem');
  writeFileSync(cfg, JSON.stringify({
    bottle: 'first-request',
    egress: { listen: { host: '127.0.0.1', port: 0 }, routesFile: routes, caCertOut: caOut, superviseQueueDir: queue },
    supervise: { listen: { host: '127.0.0.1', port: 0 }, queueDir: queue, routesFile: routes },
  }));
  const env = { PATH: process.env.PATH ?? '', BOT_BOTTLE_RESOLVE: `api.test:${upstream.port}:127.0.0.1`, BOT_BOTTLE_UPSTREAM_CA: caFile, EGRESS_TOKEN_0: 'bench-token' };
  const result = new Map(bundles.map((b) => [b, { ready: [] as number[], first: [] as number[] }]));
  for (let i = 0; i < runs; i++) {
    for (const bundle of i % 2 === 0 ? bundles : [...bundles].reverse()) {
      const t0 = performance.now();
      const child = spawn(process.execPath, [...BUNDLE_NODE_FLAGS, bundle, '--config', cfg], { env, stdio: ['pipe', 'pipe', 'inherit'] });
      const listen = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no ready line within 20 s')), 20_000);
        let buf = '';
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          const m = /"event":"ready".*?"egress":\{"listen":"([^"]+)"/.exec(buf);
          if (m?.[1]) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
      });
      result.get(bundle)!.ready.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, PAUSE_MS));
      // Asynchronously: the upstream answering it runs in this process.
      const { stdout: out } = await promisify(execFile)('curl', ['-sS', '-o', '/dev/null', '-w', '%{time_total}', '-x', `http://${listen}`, '--cacert', caOut, `https://api.test:${upstream.port}/v1/first`], { encoding: 'utf8' });
      result.get(bundle)!.first.push(Number(out) * 1000);
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }
  for (const [bundle, r] of result) {
    process.stdout.write(`${JSON.stringify({ bundle, runs, pauseMs: PAUSE_MS, readyMs: Math.round(median(r.ready)), firstRequestMs: Number(median(r.first).toFixed(1)), firstRequestAll: r.first.map((x) => Math.round(x)) })}\n`);
  }
} finally {
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
}
