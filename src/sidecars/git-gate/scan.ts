import { spawn } from 'node:child_process';
import { DlpBudgetError, type Scanner } from '../../dlp/index.js';

/**
 * Scans the commits of a push range as a stream: `git log -p` output is read
 * line by line, the parts an agent could smuggle a secret through (added
 * lines, commit messages, file names) are batched, and each batch goes to the
 * shared DLP scanner. Memory is bounded by the batch size, whatever the push.
 *
 * Only the gate's detectors count: files like `.gitleaks.toml`,
 * `.secretlintignore` or `gitleaks:allow` comments are just content here.
 */

export interface PushFinding {
  commit: string;
  /** `(commit message)` for findings in the message. */
  path: string;
  line: number;
  rule: string;
  masked: string;
  where: 'added line' | 'commit message' | 'file name';
}

export interface ScanRangeOptions {
  /** rev-list arguments, e.g. [`${old}..${new}`] or [new, '--not', '--all']. */
  revArgs: readonly string[];
  env: Record<string, string>;
  scanner: Scanner;
  /** Date.now() value after which the scan fails closed. */
  deadline: number;
  /** Stop collecting after this many findings (the push is rejected anyway). */
  maxFindings?: number;
}

const BATCH_CHARS = 256 * 1024;
/** Longer lines (minified files, binaries under --text) are cut into overlapping pieces. */
const PIECE_CHARS = 64 * 1024;
const PIECE_OVERLAP = 512;

interface Item {
  commit: string;
  path: string;
  line: number;
  where: PushFinding['where'];
}

class Batcher {
  private parts: string[] = [];
  private meta: Item[] = [];
  private size = 0;
  readonly findings: PushFinding[] = [];

  constructor(
    private readonly scanner: Scanner,
    private readonly deadline: number,
    private readonly maxFindings: number,
  ) {}

  get full(): boolean {
    return this.findings.length >= this.maxFindings;
  }

  add(text: string, item: Item): void {
    if (text.length <= PIECE_CHARS) this.addPiece(text, item);
    else {
      for (let at = 0; at < text.length; at += PIECE_CHARS - PIECE_OVERLAP) {
        this.addPiece(text.slice(at, at + PIECE_CHARS), item);
        if (at + PIECE_CHARS >= text.length) break;
      }
    }
  }

  private addPiece(text: string, item: Item): void {
    // A newline inside one item would shift line numbers; items are single lines by construction.
    this.parts.push(text);
    this.meta.push(item);
    this.size += text.length + 1;
    if (this.size >= BATCH_CHARS) this.flush();
  }

  flush(): void {
    if (this.parts.length === 0) return;
    if (Date.now() > this.deadline) throw new DlpBudgetError('secret scan exceeded its time budget');
    const found = this.scanner.scan(this.parts.join('\n'));
    for (const f of found) {
      if (f.severity !== 'block' || this.full) continue;
      const item = this.meta[f.line - 1];
      if (!item) continue;
      const dup = this.findings.some((x) => x.commit === item.commit && x.path === item.path && x.line === item.line && x.rule === f.rule);
      if (!dup) this.findings.push({ ...item, rule: f.rule, masked: f.masked });
    }
    this.parts = [];
    this.meta = [];
    this.size = 0;
  }
}

/** `+++ b/path` → path; C-quoted names are unquoted enough to be readable and scannable. */
function newPath(header: string): string | undefined {
  const raw = header.slice(4);
  if (raw === '/dev/null') return undefined;
  const unq = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
  return unq.startsWith('b/') ? unq.slice(2) : unq;
}

export async function scanRange(opts: ScanRangeOptions): Promise<PushFinding[]> {
  const batch = new Batcher(opts.scanner, opts.deadline, opts.maxFindings ?? 50);
  const args = [
    '-c', 'core.quotePath=false',
    'log', '-p', '--text', '--no-color', '--no-ext-diff', '--no-textconv', '--no-renames',
    '--diff-merges=first-parent', '--format=%x00%H%n%B%x00', ...opts.revArgs,
  ];
  const child = spawn('git', args, { env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-4096);
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), Math.max(0, opts.deadline - Date.now()));

  let state = 'start' as 'start' | 'message' | 'patch';
  let commit = '';
  let msgLine = 0;
  let path = '';
  let inHunk = false;
  let newLine = 0;

  const onLine = (buf: Buffer): void => {
    const nul = buf.indexOf(0);
    if (state === 'message') {
      const text = (nul === -1 ? buf : buf.subarray(0, nul)).toString('utf8');
      if (text !== '') batch.add(text, { commit, path: '(commit message)', line: ++msgLine, where: 'commit message' });
      if (nul !== -1) state = 'patch';
      return;
    }
    if (nul === 0) {
      // Patch lines always start with ' ', '+', '-', '\', '@' or a header word: a NUL first byte is our record marker.
      commit = buf.subarray(1).toString('latin1').trim();
      state = 'message';
      msgLine = 0;
      inHunk = false;
      path = '';
      return;
    }
    if (state !== 'patch') return;
    const c = buf[0];
    if (inHunk && c === 0x2b /* + */) {
      batch.add(buf.subarray(1).toString('utf8'), { commit, path, line: newLine++, where: 'added line' });
      return;
    }
    if (inHunk && c === 0x20 /* space */) {
      newLine++;
      return;
    }
    if (inHunk && (c === 0x2d /* - */ || c === 0x5c /* \ */)) return;
    const text = buf.toString('utf8');
    if (text.startsWith('@@ ')) {
      const m = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(text);
      newLine = m?.[1] ? Number(m[1]) : 0;
      inHunk = true;
      return;
    }
    inHunk = false;
    if (text.startsWith('diff --git ')) path = '';
    else if (text.startsWith('+++ ')) {
      const p = newPath(text);
      if (p !== undefined) {
        path = p;
        batch.add(p, { commit, path: p, line: 0, where: 'file name' });
      }
    }
  };

  let carry: Buffer[] = [];
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      let start = 0;
      for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
        const piece = chunk.subarray(start, nl);
        if (carry.length > 0) {
          onLine(Buffer.concat([...carry, piece]));
          carry = [];
        } else onLine(piece);
        start = nl + 1;
      }
      if (start < chunk.length) carry.push(chunk.subarray(start));
      // A single line without a newline for megabytes: hand it over in pieces instead of growing.
      if (carry.reduce((n, b) => n + b.length, 0) > 4 * PIECE_CHARS && state === 'patch' && inHunk) {
        const joined = Buffer.concat(carry);
        const keep = joined.subarray(joined.length - PIECE_OVERLAP);
        batch.add(joined.subarray(1).toString('utf8'), { commit, path, line: newLine, where: 'added line' });
        carry = [Buffer.concat([joined.subarray(0, 1), keep])];
      } else if (carry.reduce((n, b) => n + b.length, 0) > 4 * PIECE_CHARS) {
        const joined = Buffer.concat(carry);
        batch.add(joined.toString('utf8'), { commit, path: path || '(commit message)', line: msgLine, where: state === 'message' ? 'commit message' : 'added line' });
        carry = [joined.subarray(joined.length - PIECE_OVERLAP)];
      }
      if (batch.full) break;
    }
    if (carry.length > 0) onLine(Buffer.concat(carry));
    batch.flush();
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
  if (batch.full) {
    child.kill('SIGKILL');
    await exited.catch(() => null);
    return batch.findings;
  }
  const code = await exited;
  if (Date.now() > opts.deadline) throw new DlpBudgetError('secret scan exceeded its time budget');
  if (code !== 0) throw new Error(`git log for the secret scan failed (exit ${code ?? 'signal'}): ${stderr.trim()}`);
  return batch.findings;
}
