// Opt-in, warn-only: long runs of base64-ish chars that look random. Shannon
// entropy is capped by log2(length), so short tokens can never reach 5.5
// bits/char; the threshold is min(5.5, log2(len) - 0.9) over at most 256 chars.

const MIN_LEN = 20;
const MAX_LEN = 4096;
const SAMPLE = 256;
const CEILING = 5.5;

export function shannon(s: string): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < s.length; i++) counts.set(s.charCodeAt(i), (counts.get(s.charCodeAt(i)) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** `runs` is core.ts's flat [start, end, ...] list of base64-ish runs. */
export function highEntropySpans(text: string, runs: readonly number[]): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  for (let i = 0; i + 1 < runs.length; i += 2) {
    const r = { start: runs[i]!, end: runs[i + 1]! };
    const len = r.end - r.start;
    if (len < MIN_LEN || len > MAX_LEN) continue;
    const sample = text.slice(r.start, r.start + Math.min(len, SAMPLE));
    if (!/[0-9]/.test(sample) || !/[A-Za-z]/.test(sample)) continue;
    if (shannon(sample) >= Math.min(CEILING, Math.log2(sample.length) - 0.9)) out.push(r);
  }
  return out;
}
