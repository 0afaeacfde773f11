// Load generator (its own process, so it does not share the proxy's event loop).
// argv[2] = JSON { mode, url, proxy?, ca, connections, durationMs, count }
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { Agent, ProxyAgent, request, type Dispatcher } from 'undici';
import { machineBusyMs, userSysMsOf } from './proc-cpu.js';

interface Args {
  mode: 'rps' | 'upload' | 'sse';
  url: string;
  proxy?: string;
  /** CA files the client trusts (the upstream's for direct, the proxy's for proxied). */
  ca: string[];
  connections: number;
  durationMs: number;
  count: number;
  uploadBytes: number;
  /** Uploads timed in the warm window (0: none), and the untimed ones before it. */
  warmCount: number;
  warmAfter: number;
  /** The proxy's PID, for its CPU per uploaded MB. */
  cpuPid?: number;
}

const a = JSON.parse(process.argv[2]!) as Args;
const ca = a.ca.map((f) => readFileSync(f, 'utf8'));
const dispatcher: Dispatcher = a.proxy
  ? new ProxyAgent({ uri: a.proxy, requestTls: { ca }, connections: a.connections, keepAliveTimeout: 60_000 })
  : new Agent({ connect: { ca }, connections: a.connections, keepAliveTimeout: 60_000 });

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function rps(): Promise<Record<string, number>> {
  const lat: number[] = [];
  let errors = 0;
  const one = async (): Promise<void> => {
    const t0 = performance.now();
    const r = await request(a.url, { dispatcher });
    await r.body.dump();
    if (r.statusCode !== 200) errors++;
    lat.push(performance.now() - t0);
  };
  // Warm up: open every connection and mint the leaf before measuring.
  await Promise.all(Array.from({ length: a.connections * 4 }, one));
  lat.length = 0;
  const end = performance.now() + a.durationMs;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: a.connections }, async () => {
      while (performance.now() < end) await one();
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  return { requests: lat.length, rps: lat.length / secs, p50: pct(lat, 50), p99: pct(lat, 99), errors };
}

/** One window of timed uploads; bench/egress.ts prints it. */
export interface UploadWindow {
  /** Median MB/s of its uploads. */
  mbps: number;
  /** The proxy's CPU per uploaded MB (NaN for direct). */
  cpuMsPerMb: number;
  /** Every process's CPU per uploaded MB, and the cores busy on average. */
  machineCpuMsPerMb: number;
  busyCores: number;
}

/**
 * Uploads on one keep-alive connection, measured in two windows: `first`, the
 * `count` uploads after one warm-up (what an agent's occasional upload meets: fresh
 * processes, code not yet optimised), and `warm`, `warmCount` uploads after
 * `warmAfter` more (steady state: both the load tool and the proxy ramp up over
 * the first few hundred MB, direct most).
 */
async function upload(): Promise<{ first: UploadWindow; warm: UploadWindow | null }> {
  const chunk = Buffer.alloc(64 * 1024, 'abcdefghij0123456789 lorem ipsum dolor sit amet ');
  const one = async (): Promise<number> => {
    const t0 = performance.now();
    const r = await request(a.url, {
      dispatcher,
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'content-length': String(a.uploadBytes) },
      body: Readable.from(function* () {
        for (let sent = 0; sent < a.uploadBytes; sent += chunk.length) yield chunk.subarray(0, Math.min(chunk.length, a.uploadBytes - sent));
      }()),
    });
    const got = await r.body.text();
    if (r.statusCode !== 200 || Number(got) !== a.uploadBytes) throw new Error(`upload failed: ${r.statusCode} ${got.slice(0, 200)}`);
    return a.uploadBytes / 1e6 / ((performance.now() - t0) / 1000);
  };
  const measure = async (n: number): Promise<UploadWindow> => {
    const rates: number[] = [];
    const cpu0 = machineBusyMs();
    const p0 = sum(userSysMsOf(a.cpuPid));
    const wall0 = performance.now();
    for (let i = 0; i < n; i++) rates.push(await one());
    // Over the timed uploads: every process's CPU (client, proxy, upstream, anything else running) per MB,
    // and how many cores were busy on average. Direct uploads that keep both cores busy leave no CPU for a proxy.
    const cpu = machineBusyMs() - cpu0;
    const mb = (n * a.uploadBytes) / 1e6;
    return { mbps: pct(rates, 50), cpuMsPerMb: (sum(userSysMsOf(a.cpuPid)) - p0) / mb, machineCpuMsPerMb: cpu / mb, busyCores: cpu / (performance.now() - wall0) };
  };
  await one();
  const first = await measure(a.count);
  if (a.warmCount === 0) return { first, warm: null };
  for (let i = 0; i < a.warmAfter; i++) await one();
  return { first, warm: await measure(a.warmCount) };
}

const sum = ([u, s]: [number, number]): number => u + s;

async function sse(): Promise<Record<string, number>> {
  const firsts: number[] = [];
  for (let i = 0; i < a.count + 1; i++) {
    const t0 = performance.now();
    const r = await request(a.url, { dispatcher });
    let first = NaN;
    for await (const c of r.body as AsyncIterable<Buffer>) {
      if (Number.isNaN(first) && c.toString().includes('first')) first = performance.now() - t0;
    }
    if (i > 0) firsts.push(first);
  }
  return { firstEventMs: pct(firsts, 50) };
}

const out = a.mode === 'rps' ? await rps() : a.mode === 'upload' ? await upload() : await sse();
process.stdout.write(`${JSON.stringify(out)}\n`);
await dispatcher.close();
