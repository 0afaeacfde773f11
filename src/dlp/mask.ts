import { TOKEN_RULES } from './rules/index.js';

/**
 * A loggable stand-in for a matched value: `****`, after the rule's fixed
 * vendor prefix when there is one (`ghp_****`, `glpat-****`). Never a character
 * of the value itself: a known secret, an entropy run or an unknown token's
 * body all become `****` (the finding's rule, view and offsets say what and
 * where; consumers show the length from the offsets).
 */
export function mask(value: string, prefixes: readonly string[] | undefined): string {
  if (prefixes) for (const p of prefixes) if (value.startsWith(p)) return `${p}****`;
  return '****';
}

let vendorPrefixes: Map<string, readonly string[]> | undefined;

/**
 * The fixed prefixes a token rule's values start with, longest first: anchors
 * that end in `_`, `-` or `.` (`ghp_`, `sk-ant-`, `SG.`), which the vendor puts
 * on every token of that kind, so they tell nothing about one token. Anchors
 * without such an end (`AKIA`, a discord token's `M`) may be the token's own
 * first chars, and rules with a capture group match a value after a keyword:
 * neither keeps a prefix.
 */
export function vendorPrefixesOf(rule: string): readonly string[] | undefined {
  if (!vendorPrefixes) {
    vendorPrefixes = new Map();
    for (const r of TOKEN_RULES) {
      if (r.group !== undefined || r.ignoreCase) continue;
      const fixed = (r.anchors ?? []).filter((a) => a.length >= 3 && /[_.-]$/.test(a)).sort((a, b) => b.length - a.length);
      if (fixed.length > 0) vendorPrefixes.set(r.id, fixed);
    }
  }
  return vendorPrefixes.get(rule);
}

/**
 * Maps offsets to 1-based line/column. Findings come sorted, so a cursor walks
 * forward with indexOf (memchr) and never builds a table of every line of a
 * large text; an offset behind the cursor restarts the walk from the top.
 */
export class LineIndex {
  /** The cursor: `line` (1-based) starts at `lineStart`; newlines before `scanned` are counted. */
  private line = 1;
  private lineStart = 0;
  constructor(private readonly text: string) {}

  position(offset: number): { line: number; column: number } {
    if (offset < this.lineStart) {
      this.line = 1;
      this.lineStart = 0;
    }
    for (let nl = this.text.indexOf('\n', this.lineStart); nl !== -1 && nl < offset; nl = this.text.indexOf('\n', nl + 1)) {
      this.line++;
      this.lineStart = nl + 1;
    }
    return { line: this.line, column: offset - this.lineStart + 1 };
  }
}
