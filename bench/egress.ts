// `npm run bench:egress`: direct vs bot-bottle egress vs mitmdump on loopback.
// Every server binds 127.0.0.1; every child is killed by PID at the end.
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { makeUpstreamPki, route } from '../tests/egress/support.js';
import { BUNDLE_NODE_FLAGS } from '../src/sidecars/node-flags.js';
import type { UploadWindow } from './egress-load.js';
import { userSysMsOf } from './proc-cpu.js';

const REPS = Number(process.env.BENCH_REPS ?? 3);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 5000);
const CONNECTIONS = 8;
// BENCH_MODES=rps,upload,sse (default all): run a subset, e.g. while profiling.
// BENCH_DLP=off: no outbound DLP on the route (to measure what scanning costs). BENCH_UPLOADS: timed uploads per target (5).
// Default: the flags the backends pass to the bundle, so the bench measures what a bottle runs.
const NODE_FLAGS = process.env.BENCH_NODE_FLAGS !== undefined ? process.env.BENCH_NODE_FLAGS.split(' ').filter(Boolean) : [...BUNDLE_NODE_FLAGS];
const MODES = new Set((process.env.BENCH_MODES ?? 'rps,upload,sse').split(','));
const UPLOAD_BYTES = 10 * 1024 * 1024;
/** Timed uploads per target (the load tool sends one more first, as a warm-up). */
const UPLOADS = Number(process.env.BENCH_UPLOADS ?? 5);
/** The warm window: BENCH_WARM_UPLOADS timed uploads (0: skip) after BENCH_WARM_AFTER more untimed ones. */
const WARM_UPLOADS = Number(process.env.BENCH_WARM_UPLOADS ?? 10);
const WARM_AFTER = Number(process.env.BENCH_WARM_AFTER ?? 30);
// Random like a real token. (It was 'bench-token-value-0123456789', which shares the run
// 0123456789 with the upload payload, so the known-secret filter woke on every line of it.)
const BENCH_TOKEN = randomBytes(24).toString('base64url');
const dir = mkdtempSync(join(tmpdir(), 'bench-egress-'));
interface Child extends PromiseLike<unknown> {
  pid?: number | undefined;
  exitCode?: number | null | undefined;
  stdout: NodeJS.ReadableStream | null;
  kill(signal?: NodeJS.Signals): boolean;
}
const children: Child[] = [];
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function firstJsonLine(child: Child, pred: (o: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`child did not get ready: ${buf}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split('\n')) {
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          if (pred(o)) {
            clearTimeout(t);
            resolve(o);
          }
        } catch {
          /* partial line */
        }
      }
    });
  });
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer().listen(port, '127.0.0.1');
      s.once('listening', () => s.close(() => resolve(false)));
      s.once('error', () => resolve(true));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on ${port}`);
}

async function load<T = Record<string, number>>(args: Record<string, unknown>): Promise<T> {
  const r = await execa('node', ['--import', 'tsx', 'bench/egress-load.ts', JSON.stringify(args)], { timeout: 180_000 });
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as T;
}

function rssOf(pid: number): { rssMb: number; peakMb: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

interface Target {
  name: string;
  host: string;
  proxy?: string;
  ca: string[];
}

const noWindow: UploadWindow = { mbps: NaN, cpuMsPerMb: NaN, machineCpuMsPerMb: NaN, busyCores: NaN };

interface Result {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  upload: UploadWindow;
  warm: UploadWindow;
  sse: number;
  rss?: number;
}

const nan = { rps: NaN, p50: NaN, p99: NaN, errors: 0, firstEventMs: NaN };
const baseArgs = (t: Target & { pid?: number }): Record<string, unknown> => ({ ca: t.ca, connections: CONNECTIONS, durationMs: DURATION_MS, count: UPLOADS, uploadBytes: UPLOAD_BYTES, warmCount: WARM_UPLOADS, warmAfter: WARM_AFTER, ...(t.pid !== undefined ? { cpuPid: t.pid } : {}), ...(t.proxy ? { proxy: t.proxy } : {}) });

try {
  const pki = await makeUpstreamPki(['routed.test', 'localhost']);
  const f = (n: string, s: string): string => (writeFileSync(join(dir, n), s), join(dir, n));
  const upCa = f('upstream-ca.pem', pki.caPem);
  const upstream = execa('node', ['--import', 'tsx', 'bench/egress-upstream.ts', f('key.pem', pki.keyPem), f('cert.pem', pki.certPem)]);
  children.push(upstream);
  const upPort = (await firstJsonLine(upstream, (o) => typeof o.port === 'number')).port as number;

  // bot-bottle egress, as the backends run it, DLP on (token_patterns + known_secrets), token injection, audit file.
  // BENCH_DLP=off: the route without outbound DLP (what the proxy costs without scanning).
  const dlpOff = process.env.BENCH_DLP === 'off' ? { dlp: { outbound: [], inbound: [], onMatch: 'block' as const } } : {};
  const routes = f('routes.json', JSON.stringify([route('routed.test', upPort, { auth: { scheme: 'Bearer', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'BENCH' }, ...dlpOff })]));
  const egressPort = await freePort();
  const cfg = f('sidecars.json', JSON.stringify({ bottle: 'bench', egress: { listen: { host: '127.0.0.1', port: egressPort }, routesFile: routes, caCertOut: join(dir, 'egress-ca.pem'), auditLog: join(dir, 'audit.jsonl') } }));
  // The bundle (npm run build first); BENCH_NODE_FLAGS are passed to its node, BENCH_BUNDLE picks another build.
  // execa adds this process's env: BOT_BOTTLE_UPSTREAM_CLIENT=node-http reaches the bundle.
  const egress = execa('node', [...NODE_FLAGS, process.env.BENCH_BUNDLE ?? 'dist/sidecars.js', '--config', cfg], {
    env: { BOT_BOTTLE_UPSTREAM_CA: upCa, BOT_BOTTLE_RESOLVE: `routed.test:${upPort}:127.0.0.1`, EGRESS_TOKEN_0: BENCH_TOKEN },
  });
  children.push(egress);
  // BENCH_EGRESS_STDOUT=FILE: a copy of the proxy's stdout (its log, and e.g. --trace-gc output when profiling).
  if (process.env.BENCH_EGRESS_STDOUT) egress.stdout.pipe(createWriteStream(process.env.BENCH_EGRESS_STDOUT));
  await firstJsonLine(egress, (o) => o.event === 'ready');

  const targets: (Target & { pid?: number })[] = [
    { name: 'direct', host: 'localhost', ca: [upCa] },
    { name: 'egress', host: 'routed.test', proxy: `http://127.0.0.1:${egressPort}`, ca: [join(dir, 'egress-ca.pem')], pid: egress.pid! },
  ];
  // mitmdump 8.1.1 with a header-injection addon: the original design's baseline.
  // BENCH_SKIP_MITM=1: direct and egress only (for profiling; the table then shows n/a for mitmdump).
  const addon = f('inject.py', 'def request(flow):\n    flow.request.headers["authorization"] = "Bearer bench-token"\n');
  for (const [name, extra] of process.env.BENCH_SKIP_MITM === '1' ? [] : ([
    ['mitmdump', []],
    ['mitmdump-stream', ['--set', 'stream_large_bodies=1']],
  ] as const)) {
    const port = await freePort();
    const confdir = join(dir, `mitm-${name}`);
    const m = execa('mitmdump', ['-q', '--listen-host', '127.0.0.1', '--listen-port', String(port), '--set', `confdir=${confdir}`, '--set', `ssl_verify_upstream_trusted_ca=${upCa}`, '-s', addon, ...extra], { reject: false });
    children.push(m);
    await waitListening(port);
    targets.push({ name, host: 'localhost', proxy: `http://127.0.0.1:${port}`, ca: [join(confdir, 'mitmproxy-ca-cert.pem')], pid: m.pid! });
  }

  // Request rate: the targets take turns within each rep, so load from other work on the
  // machine hits all of them alike; ratios are also taken per rep, then the median.
  const rpsRuns: Record<string, Record<string, number>[]> = Object.fromEntries(targets.map((t) => [t.name, []]));
  // Warm-up (discarded): JIT, TLS sessions, leaf certificates, the lazily loaded upstream client.
  if (MODES.has('rps')) for (const t of targets) await load({ ...baseArgs(t), durationMs: 1500, mode: 'rps', url: `https://${t.host}:${upPort}/small` });
  for (let i = 0; i < REPS; i++) {
    for (const t of targets) {
      if (!MODES.has('rps')) {
        rpsRuns[t.name]!.push(nan);
        continue;
      }
      const [u0, s0] = userSysMsOf(t.pid);
      const r = await load({ ...baseArgs(t), mode: 'rps', url: `https://${t.host}:${upPort}/small` });
      // The proxy's CPU per request: unlike requests/s, barely moved by other load on the machine.
      const [u1, s1] = userSysMsOf(t.pid);
      r.cpuUsPerReq = ((u1 + s1 - u0 - s0) * 1000) / r.requests!;
      r.sysUsPerReq = ((s1 - s0) * 1000) / r.requests!;
      rpsRuns[t.name]!.push(r);
    }
  }
  const results: Record<string, Result> = {};
  for (const t of targets) {
    const runs = rpsRuns[t.name]!;
    const upload = MODES.has('upload') ? await load<{ first: UploadWindow; warm: UploadWindow | null }>({ ...baseArgs(t), mode: 'upload', url: `https://${t.host}:${upPort}/upload` }) : undefined;
    const sse = MODES.has('sse') ? await load({ ...baseArgs(t), mode: 'sse', count: 20, url: `https://${t.host}:${upPort}/sse` }) : nan;
    results[t.name] = {
      rps: median(runs.map((r) => r.rps!)),
      p50: median(runs.map((r) => r.p50!)),
      p99: median(runs.map((r) => r.p99!)),
      errors: runs.reduce((n, r) => n + r.errors!, 0),
      upload: upload?.first ?? noWindow,
      warm: upload?.warm ?? noWindow,
      sse: sse.firstEventMs,
      ...(t.pid !== undefined ? { rss: rssOf(t.pid).peakMb } : {}),
    };
  }
  const perRep = (a: string, b: string): number => median(rpsRuns[a]!.map((r, i) => r.rps! / (rpsRuns[b]![i]?.rps ?? NaN)));
  const ratioDirect = MODES.has('rps') ? perRep('egress', 'direct') : NaN;
  const ratioMitm = results.mitmdump ? perRep('egress', 'mitmdump') : NaN;

  const d = results.direct!;
  const e = results.egress!;
  const none: Result = { rps: NaN, p50: NaN, p99: NaN, errors: 0, upload: noWindow, warm: noWindow, sse: NaN };
  const m = results.mitmdump ?? none;
  const ms = results['mitmdump-stream'] ?? none;
  const fx = (n: number, p = 1): string => (Number.isFinite(n) ? n.toFixed(p) : 'n/a');
  const all = [d, e, m, ms];
  const uploadRows = (title: string, w: (r: Result) => UploadWindow): string[] => [
    `| ${title} | ${all.map((r) => fx(w(r).mbps)).join(' | ')} | ${fx((100 * w(e).mbps) / w(d).mbps, 0)} % of direct (≥ 50 %) |`,
    `| proxy CPU ms per uploaded MB | | ${[e, m, ms].map((r) => fx(w(r).cpuMsPerMb, 2)).join(' | ')} | |`,
    `| machine CPU ms per uploaded MB (all processes; cores busy, of ${cpus().length}) | ${all.map((r) => `${fx(w(r).machineCpuMsPerMb, 2)} (${fx(w(r).busyCores, 2)})`).join(' | ')} | |`,
  ];
  const rows = [
    `| metric | direct | egress | mitmdump | mitmdump (stream_large_bodies=1) | egress vs target |`,
    `|---|---|---|---|---|---|`,
    `| requests/s (8 conns, ${DURATION_MS / 1000} s, median of ${REPS} interleaved runs) | ${fx(d.rps, 0)} | ${fx(e.rps, 0)} | ${fx(m.rps, 0)} | ${fx(ms.rps, 0)} | ${fx(ratioMitm)}× mitmdump (≥ 10×); ${fx(100 * ratioDirect, 0)} % of direct (≥ 35 %) (medians of per-run ratios) |`,
    `| p50 latency ms | ${fx(d.p50, 2)} | ${fx(e.p50, 2)} | ${fx(m.p50, 2)} | ${fx(ms.p50, 2)} | +${fx(e.p50 - d.p50, 2)} ms (< 1 ms) |`,
    `| proxy CPU µs per request (median) | | ${fx(median(rpsRuns.egress!.map((r) => r.cpuUsPerReq!)), 0)} | ${fx(median((rpsRuns.mitmdump ?? []).map((r) => r.cpuUsPerReq!)), 0)} | ${fx(median((rpsRuns['mitmdump-stream'] ?? []).map((r) => r.cpuUsPerReq!)), 0)} | |`,
    `| of which system (syscalls) µs | | ${fx(median(rpsRuns.egress!.map((r) => r.sysUsPerReq!)), 0)} | ${fx(median((rpsRuns.mitmdump ?? []).map((r) => r.sysUsPerReq!)), 0)} | ${fx(median((rpsRuns['mitmdump-stream'] ?? []).map((r) => r.sysUsPerReq!)), 0)} | |`,
    `| p99 latency ms | ${fx(d.p99, 2)} | ${fx(e.p99, 2)} | ${fx(m.p99, 2)} | ${fx(ms.p99, 2)} | |`,
    ...uploadRows(`10 MB upload MB/s, first uploads (DLP on in egress; median of ${UPLOADS} after 1 warm-up)`, (r) => r.upload),
    ...(WARM_UPLOADS > 0 ? uploadRows(`10 MB upload MB/s, warm (median of ${WARM_UPLOADS} after ${UPLOADS + 1 + WARM_AFTER} uploads)`, (r) => r.warm) : []),
    `| SSE first event ms (median of 20) | ${fx(d.sse, 2)} | ${fx(e.sse, 2)} | ${fx(m.sse, 2)} | ${fx(ms.sse, 2)} | +${fx(e.sse - d.sse, 2)} ms (< 5 ms) |`,
    `| proxy peak RSS MB${NODE_FLAGS.length > 0 ? ` (egress node flags: ${NODE_FLAGS.join(' ')})` : ''} | | ${fx(e.rss ?? NaN)} | ${fx(m.rss ?? NaN)} | ${fx(ms.rss ?? NaN)} | < 80 MB |`,
  ];
  process.stdout.write(`\nupstream client: ${process.env.BOT_BOTTLE_UPSTREAM_CLIENT ?? 'default'}\n${rows.join('\n')}\n\nper-run requests/s: ${JSON.stringify(Object.fromEntries(Object.entries(rpsRuns).map(([k, v]) => [k, v.map((r) => Math.round(r.rps!))])))}\nerrors: ${JSON.stringify(Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.errors])))}\n`);
} finally {
  for (const c of children.reverse()) if (c.pid !== undefined) c.kill('SIGTERM');
  await Promise.allSettled(children);
  rmSync(dir, { recursive: true, force: true });
}
