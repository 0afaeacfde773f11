/**
 * A loggable stand-in for a matched value: at most the first 4 characters
 * (fewer for short values) and `****`, so logs never carry the secret.
 */
export function mask(value: string): string {
  // Only printable ASCII survives, so zero-width or control chars never reach a log line.
  const visible = value.replace(/[^\x21-\x7e]/g, '');
  const keep = visible.length >= 16 ? 4 : visible.length >= 8 ? 2 : 0;
  return visible.slice(0, keep) + '****';
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
