// Sidecar bundle start-up: spawn → `ready` line, CPU time and RSS at ready (median of N runs).
// `node --import tsx bench/egress-startup.ts [runs] [--supervise] [bundle]` (npm run build first).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { route } from '../tests/egress/support.js';

const args = process.argv.slice(2);
const runs = Number(args.find((a) => /^\d+$/.test(a)) ?? 7);
const withSupervise = args.includes('--supervise');
const bundle = args.find((a) => a.endsWith('.js')) ?? 'dist/sidecars.js';
const dir = mkdtempSync(join(tmpdir(), 'egress-startup-'));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

try {
  const routes = join(dir, 'routes.json');
  writeFileSync(routes, JSON.stringify([route('a.test', 443), route('*.b.test', 443)]));
  const queue = join(dir, 'queue');
  mkdirSync(queue);
  const cfg = join(dir, 'sidecars.json');
  writeFileSync(cfg, JSON.stringify({
    bottle: 'startup',
    egress: { listen: { host: '127.0.0.1', port: 0 }, routesFile: routes, caCertOut: join(dir, 'ca.pem'), ...(withSupervise ? { superviseQueueDir: queue } : {}) },
    ...(withSupervise ? { supervise: { listen: { host: '127.0.0.1', port: 0 }, queueDir: queue, routesFile: routes } } : {}),
  }));
  const ready: number[] = [];
  const cpu: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const child = spawn(process.execPath, [bundle, '--config', cfg], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ready line within 20 s')), 20_000);
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('"event":"ready"')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    ready.push(performance.now() - t0);
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    cpu.push((Number(stat[11]) + Number(stat[12])) * 10);
    rss.push(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  process.stdout.write(`${JSON.stringify({ bundle, supervise: withSupervise, runs, readyMs: Math.round(median(ready)), cpuMs: median(cpu), rssMb: Math.round(median(rss)) })}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
