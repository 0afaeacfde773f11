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

/** Maps offsets to 1-based line/column; line starts are computed once per text. */
export class LineIndex {
  private starts: number[] | undefined;
  constructor(private readonly text: string) {}

  position(offset: number): { line: number; column: number } {
    const starts = (this.starts ??= lineStarts(this.text));
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (starts[lo] ?? 0) + 1 };
  }
}

function lineStarts(text: string): number[] {
  const starts = [0];
  let i = text.indexOf('\n');
  while (i !== -1) {
    starts.push(i + 1);
    i = text.indexOf('\n', i + 1);
  }
  return starts;
}
