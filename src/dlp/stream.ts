// Streaming: each push scans carry + chunk, where carry is the last
// `windowChars` chars already seen, so a token split across chunks is whole in
// one scan. The per-char pass does not re-read the carry: it resumes from its
// state at the end of the previous push and re-dispatches the word starts it
// had seen near that end. A finding is reported once: the first time it is
// seen (keyed by rule and overlapping span), and only if it reaches past the
// carried part. With `settle`, a finding that touches the end of what has
// arrived is held back until it stops growing (or the stream ends), so it is
// reported whole: a caller that redacts or holds data must see the full span.
import type { Finding, ScannerOptions, StreamScanner } from './api.js';
import type { PassCarry } from './core.js';
import { Engine, toFindings } from './scanner.js';

export const DEFAULT_WINDOW_CHARS = 8192;
/** What views.ts decodes from (URL escapes, backslash escapes). */
const TRIGGERS = ['%', '\\'];

export function createStreamScanner(opts: ScannerOptions & { windowChars?: number; settle?: boolean }): StreamScanner {
  const engine = new Engine(opts);
  const windowChars = Math.max(256, opts.windowChars ?? DEFAULT_WINDOW_CHARS);
  let carry = '';
  /** Absolute offset, line and column of carry[0]. */
  let base = { offset: 0, line: 1, column: 1 };
  /** Findings already reported whose span may still show up in a later scan of the carry. */
  let seen: { rule: string; start: number; end: number }[] = [];
  /** The pass's state at the end of the previous push; its starts are offsets into `carry`. */
  let pass: PassCarry | undefined;
  /** With settle: findings that reached the end of the last push and may still grow. */
  let open: Finding[] = [];
  /** The carry holds no char a decoded view or token infix starts from: a quiet chunk after it needs no full scan. */
  let carryQuiet = true;
  const overlaps = (a: { rule: string; start: number; end: number }, b: { rule: string; start: number; end: number }): boolean =>
    a.rule === b.rule && a.start < b.end && b.start < a.end;

  /** Newlines among the first `dropped` chars of carry + chunk: their count and the offset of the last (-1: none). */
  const newlines = (chunk: string | Buffer, dropped: number): { lines: number; nl: number } => {
    // Forward indexOf walks (memchr) find both the count and the last newline; lastIndexOf is far slower.
    let lines = 0;
    let nl = -1;
    for (let i = carry.indexOf('\n'); i !== -1 && i < dropped; i = carry.indexOf('\n', i + 1)) {
      lines++;
      nl = i;
    }
    const inChunk = dropped - carry.length;
    const next = typeof chunk === 'string' ? (from: number): number => chunk.indexOf('\n', from) : (from: number): number => chunk.indexOf(10, from);
    for (let i = inChunk > 0 ? next(0) : -1; i !== -1 && i < inChunk; i = next(i + 1)) {
      lines++;
      nl = carry.length + i;
    }
    return { lines, nl };
  };

  /** Drops all but the last `keep` chars of carry + chunk, which become the new carry. */
  const advance = (chunk: string | Buffer, keep: number): void => {
    const dropped = carry.length + chunk.length - keep;
    const { lines, nl } = newlines(chunk, dropped);
    const tail = (k: number): string => (typeof chunk === 'string' ? chunk.slice(chunk.length - k) : chunk.toString('latin1', chunk.length - k));
    const next = chunk.length >= keep ? tail(keep) : carry.slice(carry.length - (keep - chunk.length)) + tail(chunk.length);
    base = {
      offset: base.offset + dropped,
      line: base.line + lines,
      column: nl === -1 ? base.column + dropped : dropped - nl,
    };
    carry = next;
    seen = seen.filter((f) => f.end > base.offset);
    if (pass) {
      pass.starts = pass.starts.map((p) => p - dropped).filter((p) => p >= 0);
      pass.probes = pass.probes.map((p) => p - dropped).filter((p) => p >= 0);
      const k = pass.lastKnown;
      pass.lastKnown = k && k.end - dropped > 0 ? { ...k, start: Math.max(0, k.start - dropped), end: k.end - dropped } : undefined;
    }
  };

  const report = (text: string, carried: number): Finding[] => {
    const r = engine.streamHits(text, pass && carried > 0 ? { kept: carried, carry: pass } : undefined);
    pass = r.carry;
    const hits = r.hits.filter((h) => h.end > carried);
    const end = base.offset + text.length;
    const fresh: Finding[] = [];
    const growing: Finding[] = [];
    for (const f of toFindings(text, hits, base)) {
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
    const found = report(carry + chunk, carry.length);
    advance(chunk, Math.min(windowChars, carry.length + chunk.length));
    carryQuiet = !TRIGGERS.some((t) => carry.includes(t)) && !engine.infixes().some((t) => carry.includes(t));
    return found;
  };

  return {
    push,
    pushBytes(chunk) {
      if (chunk.length === 0) return [];
      // Most chunks of a body hold nothing any detector reacts to: the pass alone says so, without a string.
      if (carryQuiet && open.length === 0 && (pass !== undefined || carry.length === 0)) {
        const next = engine.quiet(chunk, carry, pass);
        if (next) {
          pass = next;
          advance(chunk, Math.min(windowChars, carry.length + chunk.length));
          return [];
        }
      }
      return push(chunk.toString('latin1'));
    },
    end() {
      // Everything was scanned on push; only findings held back to settle are pending.
      const rest = open;
      open = [];
      carry = '';
      pass = undefined;
      carryQuiet = true;
      return rest;
    },
  };
}
