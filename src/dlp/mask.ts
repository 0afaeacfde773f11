/**
 * A loggable stand-in for a matched value: at most the first 4 characters
 * (fewer for short values) and `****`, so logs never carry the secret.
 */
export function mask(value: string): string {
  const keep = value.length >= 16 ? 4 : value.length >= 8 ? 2 : 0;
  return value.slice(0, keep) + '****';
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
