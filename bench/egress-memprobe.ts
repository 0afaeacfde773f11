// RSS of the egress bundle through its life: ready, first requests, sustained load, uploads.
// `node --import tsx bench/egress-memprobe.ts`. The bundle runs with the flags the launchers pass
// (BUNDLE_NODE_FLAGS) unless FLAGS="..." replaces them (FLAGS="" for none); BENCH_BUNDLE picks another build.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { makeUpstreamPki, route } from '../tests/egress/support.js';
import { BUNDLE_NODE_FLAGS } from '../src/sidecars/node-flags.js';

const dir = mkdtempSync(join(tmpdir(), 'memprobe-'));
const pki = await makeUpstreamPki(['routed.test']);
const f = (n: string, s: string): string => (writeFileSync(join(dir, n), s), join(dir, n));
const upCa = f('ca.pem', pki.caPem);
const up = execa('node', ['--import', 'tsx', 'bench/egress-upstream.ts', f('k.pem', pki.keyPem), f('c.pem', pki.certPem)]);
const upPort = await new Promise<number>((resolve) => up.stdout.once('data', (d: Buffer) => resolve((JSON.parse(d.toString()) as { port: number }).port)));
const routes = f('routes.json', JSON.stringify([route('routed.test', upPort)]));
const cfg = f('cfg.json', JSON.stringify({ bottle: 'm', egress: { listen: { host: '127.0.0.1', port: 0 }, routesFile: routes, caCertOut: join(dir, 'eca.pem'), auditLog: join(dir, 'a.jsonl') } }));
const flags = process.env.FLAGS !== undefined ? process.env.FLAGS.split(' ').filter(Boolean) : [...BUNDLE_NODE_FLAGS];
const eg = execa('node', [...flags, process.env.BENCH_BUNDLE ?? 'dist/sidecars.js', '--config', cfg], { env: { BOT_BOTTLE_UPSTREAM_CA: upCa, BOT_BOTTLE_RESOLVE: `routed.test:${upPort}:127.0.0.1` } });
try {
  const listen = await new Promise<string>((resolve) => {
    eg.stdout.on('data', (d: Buffer) => {
      for (const l of d.toString().split('\n')) {
        const m = /"event":"ready".*"listen":"([^"]+)"/.exec(l);
        if (m) resolve(m[1]!);
      }
    });
  });
  const rss = (tag: string): void => {
    const s = readFileSync(`/proc/${eg.pid}/status`, 'utf8');
    const mb = (k: string): number => Math.round(Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1]) / 1024);
    process.stdout.write(`${tag}: rss ${mb('VmRSS')} MB, peak ${mb('VmHWM')} MB\n`);
  };
  const load = (mode: string, ms: number, conns = 8) =>
    execa('node', ['--import', 'tsx', 'bench/egress-load.ts', JSON.stringify({ mode, url: `https://routed.test:${upPort}/${mode === 'rps' ? 'small' : 'upload'}`, proxy: `http://${listen}`, ca: [join(dir, 'eca.pem')], connections: conns, durationMs: ms, count: 2, uploadBytes: 10485760 })]);
  process.stdout.write(`bundle node flags: ${flags.join(' ') || '(none)'}; upstream client: ${process.env.BOT_BOTTLE_UPSTREAM_CLIENT ?? 'default'}\n`);
  rss('ready');
  await load('rps', 50, 1);
  rss('after first requests');
  await load('rps', 4000);
  rss('after 4 s of 8-connection load');
  await load('upload', 0);
  rss('after 10 MB uploads');
} finally {
  eg.kill('SIGTERM');
  up.kill('SIGTERM');
  await Promise.allSettled([eg, up]);
  rmSync(dir, { recursive: true, force: true });
}
