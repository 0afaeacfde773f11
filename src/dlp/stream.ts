// Streaming: each push scans carry + chunk, where carry is the last
// `windowChars` chars already seen, so a token split across chunks is whole in
// one scan. The per-char pass does not re-read the carry: it resumes from its
// state at the end of the previous push and re-dispatches the word starts it
// had seen near that end. A finding is reported once: the first time it is
// seen (keyed by rule and overlapping span), and only if it reaches past the
// carried part. With `settle`, a finding that touches the end of what has
// arrived is held back until it stops growing (or the stream ends), so it is
// reported whole: a caller that redacts or holds data must see the full span.
// Bytes (pushBytes) usually hold nothing to look at: the pass alone says so
// (core.ts quietBytes), and no string is built, not even for the carry, which
// then stays the tail of the last chunk until a full scan needs it as text.
import type { Finding, ScannerOptions, StreamScanner } from './api.js';
import { type Carried, latin1, type PassCarry } from './core.js';
import { Engine, toFindings } from './scanner.js';

export const DEFAULT_WINDOW_CHARS = 8192;

type Part = Carried;
const NEWLINE = 10;

/** Newlines in part[0, to): how many, and the offset of the last (-1: none). Forward indexOf walks (memchr); lastIndexOf is far slower. */
function newlinesIn(part: Part, to: number): { lines: number; last: number } {
  let lines = 0;
  let last = -1;
  const next = typeof part === 'string' ? (from: number): number => part.indexOf('\n', from) : (from: number): number => part.indexOf(NEWLINE, from);
  for (let i = to > 0 ? next(0) : -1; i !== -1 && i < to; i = next(i + 1)) {
    lines++;
    last = i;
  }
  return { lines, last };
}

export function createStreamScanner(opts: ScannerOptions & { windowChars?: number; settle?: boolean }): StreamScanner {
  const engine = new Engine(opts);
  const windowChars = Math.max(256, opts.windowChars ?? DEFAULT_WINDOW_CHARS);
  let carry: Carried = '';
  /** Absolute offset, line and column of carry[0]. */
  let base = { offset: 0, line: 1, column: 1 };
  /** Findings already reported whose span may still show up in a later scan of the carry. */
  let seen: { rule: string; start: number; end: number }[] = [];
  /** The pass's state at the end of the previous push; its starts are offsets into `carry`. */
  let pass: PassCarry | undefined;
  /** With settle: findings that reached the end of the last push and may still grow. */
  let open: Finding[] = [];
  /**
   * The carry holds no trigger (core.ts holdsTrigger), so quiet bytes after it need no full scan;
   * undefined after a string push until pushBytes asks (string-only streams never pay for it).
   */
  let carryQuiet: boolean | undefined = true;
  const overlaps = (a: { rule: string; start: number; end: number }, b: { rule: string; start: number; end: number }): boolean =>
    a.rule === b.rule && a.start < b.end && b.start < a.end;

  /** Drops all but the last `keep` chars of carry + parts, which become the new carry. */
  const advance = (parts: readonly Part[], keep: number): void => {
    let total = carry.length;
    for (const p of parts) total += p.length;
    const dropped = total - keep;
    // Lines and the last newline among the dropped chars.
    let lines = 0;
    let nl = -1;
    let at = 0;
    for (const p of [carry, ...parts]) {
      if (at >= dropped) break;
      const r = newlinesIn(p, dropped - at);
      lines += r.lines;
      if (r.last !== -1) nl = at + r.last;
      at += p.length;
    }
    // The new carry: the last chunk's own tail when it is long enough (no copy, no string).
    const last = parts[parts.length - 1]!;
    let next: Carried;
    if (last.length >= keep) next = typeof last === 'string' ? last.slice(last.length - keep) : last.subarray(last.length - keep);
    else {
      const all = latin1(carry) + parts.map((p) => latin1(p)).join('');
      next = all.slice(all.length - keep);
    }
    base = {
      offset: base.offset + dropped,
      line: base.line + lines,
      column: nl === -1 ? base.column + dropped : dropped - nl,
    };
    carry = next;
    seen = seen.filter((f) => f.end > base.offset);
    if (pass) {
      pass.starts = pass.starts.map((p) => p - dropped).filter((p) => p >= 0);
      pass.ends = pass.ends.map((p) => p - dropped).filter((p) => p >= 0);
      pass.probes = pass.probes.map((p) => p - dropped).filter((p) => p >= 0);
      const k = pass.lastKnown;
      pass.lastKnown = k && k.end - dropped > 0 ? { ...k, start: Math.max(0, k.start - dropped), end: k.end - dropped } : undefined;
    }
  };

  const report = (scanned: string, carried: number): Finding[] => {
    const r = engine.streamHits(scanned, pass && carried > 0 ? { kept: carried, carry: pass } : undefined);
    pass = r.carry;
    // A keyword-anchored value may end right where the carried part does (its closing quote came with
    // this chunk): it is found only now, and `seen` keeps it from being reported twice.
    const hits = r.hits.filter((h) => h.end > carried || h.keyword === true);
    const end = base.offset + scanned.length;
    const fresh: Finding[] = [];
    const growing: Finding[] = [];
    for (const f of toFindings(scanned, hits, base)) {
      // A longer view of a match reported earlier (it grew into this chunk) is the same finding.
      if (seen.some((o) => overlaps(o, f))) continue;
      if (opts.settle && f.end === end) {
        growing.push(f);
        continue;
      }
      seen.push({ rule: f.rule, start: f.start, end: f.end });
      fresh.push(f);
    }
    // A held finding that this push neither extended nor re-found whole is complete as it was.
    for (const o of open) {
      if (growing.some((f) => overlaps(o, f)) || fresh.some((f) => overlaps(o, f))) continue;
      seen.push({ rule: o.rule, start: o.start, end: o.end });
      fresh.push(o);
    }
    open = growing;
    return fresh;
  };

  const push = (chunk: string): Finding[] => {
    if (chunk.length === 0) return [];
    const before = latin1(carry);
    carry = before;
    const found = report(before + chunk, before.length);
    advance([chunk], Math.min(windowChars, before.length + chunk.length));
    carryQuiet = undefined;
    return found;
  };

  return {
    push,
    pushBytes(chunks) {
      const list = Buffer.isBuffer(chunks) ? [chunks] : chunks.filter((c) => c.length > 0);
      let n = 0;
      for (const c of list) n += c.length;
      if (n === 0) return [];
      carryQuiet ??= !engine.holdsTrigger(latin1(carry));
      if (carryQuiet && open.length === 0 && (pass !== undefined || carry.length === 0)) {
        const next = engine.quiet(list, carry, pass);
        if (next) {
          pass = next;
          advance(list, Math.min(windowChars, carry.length + n));
          return [];
        }
      }
      return push(list.map((p) => latin1(p)).join(''));
    },
    end() {
      // Everything was scanned on push; only findings held back to settle are pending, and
      // a value assigned to a key name that ran to the end (keywords.ts waits for more text).
      const rest = open;
      open = [];
      if (carry.length > 0 && pass !== undefined && pass.ends.length > 0) {
        const text = latin1(carry);
        const tail = engine.hits(text).filter((h) => h.keyword === true && h.end === text.length);
        for (const f of toFindings(text, tail, base)) if (!seen.some((o) => overlaps(o, f)) && !rest.some((o) => overlaps(o, f))) rest.push(f);
      }
      carry = '';
      pass = undefined;
      carryQuiet = true;
      return rest;
    },
  };
}
