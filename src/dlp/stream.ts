// Streaming: each push scans carry + chunk, where carry is the last
// `windowChars` chars already seen, so a token split across chunks is whole in
// one scan. A finding is reported once: the first time it is seen (keyed by
// rule and absolute start), and only if it reaches past the carried part.
import type { Finding, ScannerOptions, StreamScanner } from './api.js';
import { Engine, toFindings } from './scanner.js';

export const DEFAULT_WINDOW_CHARS = 8192;

export function createStreamScanner(opts: ScannerOptions & { windowChars?: number }): StreamScanner {
  const engine = new Engine(opts);
  const windowChars = Math.max(256, opts.windowChars ?? DEFAULT_WINDOW_CHARS);
  let carry = '';
  /** Absolute offset, line and column of carry[0]. */
  let base = { offset: 0, line: 1, column: 1 };
  /** Findings already reported whose span may still show up in a later scan of the carry. */
  let seen: { rule: string; start: number; end: number }[] = [];

  const advance = (text: string, keep: number): void => {
    const dropped = text.length - keep;
    const prefix = text.slice(0, dropped);
    const nl = prefix.lastIndexOf('\n');
    let lines = 0;
    for (let i = prefix.indexOf('\n'); i !== -1; i = prefix.indexOf('\n', i + 1)) lines++;
    base = {
      offset: base.offset + dropped,
      line: base.line + lines,
      column: nl === -1 ? base.column + dropped : dropped - nl,
    };
    carry = text.slice(dropped);
    seen = seen.filter((f) => f.end > base.offset);
  };

  const report = (text: string, carried: number): Finding[] => {
    const hits = engine.hits(text).filter((h) => h.end > carried);
    const fresh: Finding[] = [];
    for (const f of toFindings(text, hits, base)) {
      // A longer view of a match reported earlier (it grew into this chunk) is the same finding.
      if (seen.some((o) => o.rule === f.rule && o.start < f.end && f.start < o.end)) continue;
      seen.push({ rule: f.rule, start: f.start, end: f.end });
      fresh.push(f);
    }
    return fresh;
  };

  return {
    push(chunk) {
      if (chunk.length === 0) return [];
      const text = carry + chunk;
      const found = report(text, carry.length);
      advance(text, Math.min(windowChars, text.length));
      return found;
    },
    end() {
      // Everything was scanned on push; nothing is pending.
      carry = '';
      return [];
    },
  };
}
