import { LineCounter, parseDocument, type Document } from 'yaml';
import { describeControl, isControl } from './control-chars.js';
import { ManifestError } from './errors.js';

/**
 * A Markdown file split into its YAML frontmatter and body. `lineOffset` is
 * added to YAML line numbers so errors point at lines of the real file.
 */
export interface FrontmatterFile {
  file: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
  lineOffset: number;
  body: string;
}

const FENCE = /^---[ \t]*$/;

export function splitFrontmatter(file: string, text: string): { yaml: string; body: string; lineOffset: number } {
  rejectRawControls(file, text);
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (lines.length === 0 || !FENCE.test(lines[0] ?? '')) {
    throw new ManifestError({ file, line: 1 }, 'missing YAML frontmatter', 'start the file with a line `---`, the YAML keys, then another `---`');
  }
  const end = lines.findIndex((line, i) => i > 0 && FENCE.test(line));
  if (end < 0) {
    throw new ManifestError({ file, line: 1 }, 'frontmatter is not closed', 'add a line `---` after the last YAML key');
  }
  return {
    yaml: lines.slice(1, end).join('\n'),
    body: lines.slice(end + 1).join('\n').trim(),
    lineOffset: 1,
  };
}

/**
 * A manifest is text: tab and line ends are its only control characters.
 * A raw NUL in an agent's body would reach the sandbox's command line; an
 * escape or a lone carriage return would rewrite what `info` shows.
 */
function rejectRawControls(file: string, text: string): void {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x0a) {
      line++;
      lineStart = i + 1;
      continue;
    }
    if (!isControl(code) || code === 0x09 || (code === 0x0d && text.charCodeAt(i + 1) === 0x0a)) continue;
    throw new ManifestError(
      { file, line, column: i - lineStart + 1 },
      `contains the control character ${describeControl(code)}: manifests are text, with tab and newline as their only control characters`,
      'remove the character (an editor showing invisible characters, or `cat -A`, reveals it)',
    );
  }
}

export function parseFrontmatter(file: string, text: string): FrontmatterFile {
  const { yaml, body, lineOffset } = splitFrontmatter(file, text);
  const lineCounter = new LineCounter();
  // Alias bombs are capped where the document is converted (toJS maxAliasCount).
  const doc = parseDocument(yaml, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const pos = lineCounter.linePos(first.pos[0]);
    const problem = first.code === 'DUPLICATE_KEY' ? 'duplicate key' : `invalid YAML: ${first.message.split('\n')[0] ?? first.code}`;
    throw new ManifestError(
      { file, line: pos.line + lineOffset, column: pos.col },
      problem,
      first.code === 'DUPLICATE_KEY' ? 'each key may appear once; merge the two entries' : undefined,
    );
  }
  return { file, doc, lineCounter, lineOffset, body };
}

/** Line and column of the node at `path` (or of the key itself when `atKey`). */
export function locate(
  fm: FrontmatterFile,
  path: readonly PropertyKey[],
  atKey = false,
): { line: number; column: number } | undefined {
  let node: unknown = fm.doc.contents;
  let keyRange: [number, number, number] | undefined;
  for (const part of path) {
    const found = childOf(node, part);
    if (!found) break;
    node = found.value;
    keyRange = found.keyRange;
  }
  const range = atKey && keyRange ? keyRange : (node as { range?: [number, number, number] } | null)?.range;
  if (!range) return undefined;
  const pos = fm.lineCounter.linePos(range[0]);
  return { line: pos.line + fm.lineOffset, column: pos.col };
}

interface YamlNodeLike {
  items?: unknown[];
}
interface YamlPairLike {
  key?: { value?: unknown; range?: [number, number, number] } | null;
  value?: unknown;
}

function childOf(node: unknown, part: PropertyKey): { value: unknown; keyRange?: [number, number, number] } | undefined {
  const items = (node as YamlNodeLike | null)?.items;
  if (!Array.isArray(items)) return undefined;
  if (typeof part === 'number') {
    const item: unknown = items[part];
    return item === undefined ? undefined : { value: item };
  }
  for (const item of items) {
    const pair = item as YamlPairLike;
    if (pair.key && String(pair.key.value) === String(part)) {
      return pair.key.range ? { value: pair.value, keyRange: pair.key.range } : { value: pair.value };
    }
  }
  return undefined;
}
