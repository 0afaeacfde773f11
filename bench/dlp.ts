// DLP throughput: `npm run bench:dlp`. Median MB/s of several runs over 10 MB
// of mixed text (source code, JSON, prose, base64 blobs), clean and with
// planted secrets, next to a naive baseline that runs every rule's regex over
// the whole text (what a scanner without prefiltering does).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createScanner, TOKEN_RULES } from '../src/dlp/index.js';
import { base62, crc32 } from '../src/dlp/checksum.js';

const SIZE = 10_000_000;
const RUNS = Number(process.env['BENCH_RUNS'] ?? 7);

let seed = 42;
const rand = (): number => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const chars = (n: number, a = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'): string =>
  Array.from({ length: n }, () => pick([...a])).join('');

function mixedText(): string {
  const require = createRequire(import.meta.url);
  const code = readFileSync(require.resolve('typescript/lib/typescript.js'), 'utf8');
  const words = 'the of and to in is that for it as with was on be by this are from or have an they which you were her all she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three'.split(' ');
  const parts: string[] = [];
  let n = 0;
  while (n < SIZE) {
    let s: string;
    const kind = Math.floor(rand() * 4);
    if (kind === 0) {
      const o = Math.floor(rand() * (code.length - 20_000));
      s = code.slice(o, o + 20_000);
    } else if (kind === 1) {
      s = JSON.stringify(
        Array.from({ length: 60 }, (_, i) => ({ id: `${chars(8, '0123456789abcdef')}-${chars(4, '0123456789abcdef')}-4${chars(3, '0123456789abcdef')}-a${chars(3, '0123456789abcdef')}-${chars(12, '0123456789abcdef')}`, sha: chars(40, '0123456789abcdef'), name: pick(words), count: i, url: `https://example.com/api/v1/items/${i}`, text: Array.from({ length: 12 }, () => pick(words)).join(' ') })),
        null,
        2,
      );
    } else if (kind === 2) {
      s = Array.from({ length: 3000 }, () => pick(words)).join(' ').replace(/(.{70,80}) /g, '$1\n');
    } else {
      s = `data:image/png;base64,${randomBytes(6000).toString('base64')}\n`;
    }
    parts.push(s);
    n += s.length + 1;
  }
  return parts.join('\n').slice(0, SIZE);
}

function ghToken(): string {
  const body = chars(30);
  return `gh${'p_'}${body}${base62(crc32(body), 6)}`;
}

function plant(text: string, secrets: readonly string[]): string {
  const planted = [ghToken(), `AK${'IA'}${chars(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')}`, `sk-${'ant-'}api03-${chars(93)}AA`, Buffer.from(`key=${ghToken()}`).toString('base64'), ...secrets, Buffer.from(secrets[0]!).toString('hex')];
  const out: string[] = [];
  const step = Math.floor(text.length / 200);
  for (let i = 0; i < 200; i++) out.push(text.slice(i * step, (i + 1) * step), ` ${planted[i % planted.length]!} `);
  return out.join('');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Reports wall-clock MB/s and MB per CPU-second (user+sys of this process):
 * on a shared machine the latter is the per-core figure, wall time includes
 * waiting for a core.
 */
function bench(name: string, text: string, fn: (t: string) => number): number {
  const ms: number[] = [];
  const cpu: number[] = [];
  let found = 0;
  // Warm up on the full input so the JIT has optimised every path before timing.
  fn(text);
  for (let i = 0; i < RUNS; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    found = fn(text);
    ms.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const mb = text.length / 1e6;
  const wall = mb / (median(ms) / 1000);
  const perCpu = mb / (median(cpu) / 1000);
  console.log(`${name.padEnd(44)} ${wall.toFixed(1).padStart(7)} MB/s wall ${perCpu.toFixed(1).padStart(7)} MB/cpu-s  (median of ${RUNS}: ${median(ms).toFixed(0)} ms wall, ${median(cpu).toFixed(0)} ms cpu; ${found} findings)`);
  return perCpu;
}

/** Baseline: every rule's regex, unanchored, over the whole text; known secrets by indexOf of each raw value. */
function naive(secrets: readonly string[]): (t: string) => number {
  const res = TOKEN_RULES.map((r) => new RegExp(r.re.source, r.re.flags.replace('y', '') + 'g'));
  return (t) => {
    let n = 0;
    for (const re of res) for (const _ of t.matchAll(re)) n++;
    for (const s of secrets) for (let i = t.indexOf(s); i !== -1; i = t.indexOf(s, i + 1)) n++;
    return n;
  };
}

const secrets = [chars(40), `pw-${chars(24)}`];
const clean = mixedText();
const dirty = plant(clean, secrets);
const scanner = createScanner({ detectors: ['token_patterns', 'known_secrets'], knownSecrets: secrets, timeBudgetMs: 120_000 });
const dlp = (t: string): number => scanner.scan(t).length;
const tokensOnly = createScanner({ detectors: ['token_patterns'], timeBudgetMs: 120_000 });

console.log(`DLP benchmark: ${(clean.length / 1e6).toFixed(0)} MB mixed text, ${RUNS} runs each, Node ${process.version}`);
const a = bench('bot-bottle DLP, clean (default detectors)', clean, dlp);
const b = bench('bot-bottle DLP, planted secrets', dirty, dlp);
bench('bot-bottle DLP, token_patterns only, clean', clean, (t) => tokensOnly.scan(t).length);
const c = bench('baseline: naive all-regex loop, clean', clean, naive(secrets));
const d = bench('baseline: naive all-regex loop, planted', dirty, naive(secrets));
console.log(`ratio (per cpu-s) clean: ${(a / c).toFixed(1)}x baseline; planted: ${(b / d).toFixed(1)}x baseline`);
console.log(`load average at end: ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')} on ${(await import('node:os')).cpus().length} cpus`);
