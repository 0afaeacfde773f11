// RSS of the egress bundle through its life: ready, first requests, sustained load, uploads.
// `node --import tsx bench/egress-memprobe.ts`. The bundle runs with the flags the launchers pass
// (BUNDLE_NODE_FLAGS) unless FLAGS="..." replaces them (FLAGS="" for none); BENCH_BUNDLE picks another build.
// MEMPROBE_DETAIL=1 also prints the V8 heap by space at each step (a preload answers SIGUSR2 on stderr).
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
const detail = process.env.MEMPROBE_DETAIL === '1';
const preload = `import v8 from 'node:v8';
process.on('SIGUSR2', () => {
  const f = (x) => (x / 1048576).toFixed(1), h = v8.getHeapStatistics(), m = process.memoryUsage();
  const spaces = v8.getHeapSpaceStatistics().map((s) => s.space_name.replace('_space', '') + ' ' + f(s.physical_space_size)).join(', ');
  process.stderr.write('heap: ' + f(m.heapTotal) + ' (used ' + f(m.heapUsed) + '; ' + spaces + '), arrayBuffers ' + f(m.arrayBuffers) + ', V8 malloc ' + f(h.malloced_memory) + ' (peak ' + f(h.peak_malloced_memory) + ')\\n');
});`;
const preloadFlags = detail ? ['--import', `data:text/javascript,${encodeURIComponent(preload)}`] : [];
const eg = execa('node', [...preloadFlags, ...flags, process.env.BENCH_BUNDLE ?? 'dist/sidecars.js', '--config', cfg], { env: { BOT_BOTTLE_UPSTREAM_CA: upCa, BOT_BOTTLE_RESOLVE: `routed.test:${upPort}:127.0.0.1` } });
try {
  const listen = await new Promise<string>((resolve) => {
    eg.stdout.on('data', (d: Buffer) => {
      for (const l of d.toString().split('\n')) {
        const m = /"event":"ready".*"listen":"([^"]+)"/.exec(l);
        if (m) resolve(m[1]!);
      }
    });
  });
  let heapLine = '';
  eg.stderr.on('data', (d: Buffer) => {
    for (const l of d.toString().split('\n')) if (l.startsWith('heap: ')) heapLine = l;
  });
  const rss = async (tag: string): Promise<void> => {
    if (detail) {
      process.kill(eg.pid!, 'SIGUSR2');
      await new Promise((r) => setTimeout(r, 200));
    }
    const s = readFileSync(`/proc/${eg.pid}/status`, 'utf8');
    const mb = (k: string): number => Math.round(Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1]) / 1024);
    process.stdout.write(`${tag}: rss ${mb('VmRSS')} MB, peak ${mb('VmHWM')} MB (anon ${mb('RssAnon')}, file ${mb('RssFile')})\n`);
    if (detail) process.stdout.write(`  ${heapLine}\n`);
  };
  const load = (mode: string, ms: number, conns = 8) =>
    execa('node', ['--import', 'tsx', 'bench/egress-load.ts', JSON.stringify({ mode, url: `https://routed.test:${upPort}/${mode === 'rps' ? 'small' : 'upload'}`, proxy: `http://${listen}`, ca: [join(dir, 'eca.pem')], connections: conns, durationMs: ms, count: 2, uploadBytes: 10485760 })]);
  process.stdout.write(`bundle node flags: ${flags.join(' ') || '(none)'}; upstream client: ${process.env.BOT_BOTTLE_UPSTREAM_CLIENT ?? 'default'}\n`);
  await rss('ready');
  await load('rps', 50, 1);
  await rss('after first requests');
  await load('rps', 4000);
  await rss('after 4 s of 8-connection load');
  await load('upload', 0);
  await rss('after 10 MB uploads');
} finally {
  eg.kill('SIGTERM');
  up.kill('SIGTERM');
  await Promise.allSettled([eg, up]);
  rmSync(dir, { recursive: true, force: true });
}
