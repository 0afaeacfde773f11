// Orchestration: raw pass, then decoded views (recursively, to MAX_DEPTH so
// base64 inside base64 is seen once), then the opt-in detectors. Every step
// checks the wall-clock deadline; exceeding it throws DlpBudgetError so the
// caller blocks instead of waiting.
import { DlpBudgetError, type DetectorName, type Finding, type Scanner, type ScannerOptions } from './api.js';
import { type Carried, coreScan, holdsTrigger, type PassCarry, quietBytes, type Resume } from './core.js';
import { highEntropySpans } from './entropy.js';
import { exampleCredential } from './examples.js';
import { detectInjection } from './injection.js';
import { KnownSecretIndex } from './known.js';
import { LineIndex, mask, vendorPrefixesOf } from './mask.js';
import { TokenMatcher } from './tokens.js';
import { buildViews } from './views.js';

export const DEFAULT_BUDGET_MS = 3000;
/** Raw text is depth 0; base64 found in a decoded view is decoded once more. */
const MAX_DEPTH = 2;

/** A finding before line/column are known. */
export interface Hit {
  rule: string;
  detector: DetectorName;
  severity: 'block' | 'warn';
  start: number;
  end: number;
  /** The matched value as seen in its view (masked before it leaves the scanner). */
  value: string;
  view: string;
  /** Found by its key name (keywords.ts): yields to a rule that matched the same value. */
  keyword?: boolean;
}

let sharedMatcher: TokenMatcher | undefined;
/** Egress builds scanners per request with the same secrets; the index (a 128 KB bitset) is reused. */
const knownCache = new Map<string, KnownSecretIndex>();
const KNOWN_CACHE_MAX = 16;

function knownIndex(secrets: readonly string[]): KnownSecretIndex {
  const key = JSON.stringify(secrets);
  let idx = knownCache.get(key);
  if (!idx) {
    idx = new KnownSecretIndex(secrets);
    if (knownCache.size >= KNOWN_CACHE_MAX) knownCache.delete(knownCache.keys().next().value!);
    knownCache.set(key, idx);
  }
  return idx;
}

export class Engine {
  private readonly matcher: TokenMatcher | null;
  private readonly known: KnownSecretIndex | null;
  private readonly entropy: boolean;
  private readonly injection: boolean;
  private readonly utf8Bytes: boolean;
  readonly budgetMs: number;

  constructor(opts: ScannerOptions) {
    const on = new Set(opts.detectors);
    for (const d of on) {
      if (!['token_patterns', 'known_secrets', 'entropy', 'naive_injection_detection'].includes(d)) throw new Error(`unknown DLP detector "${String(d)}"`);
    }
    this.matcher = on.has('token_patterns') ? (sharedMatcher ??= new TokenMatcher()) : null;
    const secrets = (opts.knownSecrets ?? []).filter((s) => s.length > 0);
    this.known = on.has('known_secrets') && secrets.length > 0 ? knownIndex(secrets) : null;
    this.entropy = on.has('entropy');
    this.injection = on.has('naive_injection_detection');
    this.utf8Bytes = opts.utf8Bytes === true;
    this.budgetMs = opts.timeBudgetMs ?? DEFAULT_BUDGET_MS;
  }

  hits(text: string): Hit[] {
    return this.streamHits(text, undefined, true).hits;
  }

  /**
   * hits(), continuing a stream (see coreScan's `resume`); `carry` is undefined when no pass ran.
   * `final`: nothing follows the text (a value that runs to its end is whole).
   */
  streamHits(text: string, resume?: Resume, final = false): { hits: Hit[]; carry: PassCarry | undefined } {
    const deadline = performance.now() + this.budgetMs;
    const out: Hit[] = [];
    const carry = this.scanLayer(text, 0, deadline, out, (s, e) => [s, e], final, resume);
    if (this.injection) {
      for (const h of detectInjection(text)) out.push({ ...h, detector: 'naive_injection_detection', view: 'nfkc' });
      check(deadline);
    }
    return { hits: dedupe(out), carry };
  }

  /**
   * A stream's next bytes when nothing in them needs a full scan (core.ts
   * quietBytes): the carry for the next part, or undefined, and the caller
   * scans `before + chunks` as text. Detectors that read every char (entropy,
   * injection) always take the full scan.
   */
  quiet(chunks: readonly Buffer[], before: Carried, carry: PassCarry | undefined): PassCarry | undefined {
    if (this.entropy || this.injection || (!this.matcher && !this.known)) return undefined;
    return quietBytes(chunks, before, this.matcher, this.known, carry, performance.now() + this.budgetMs, this.utf8Bytes);
  }

  /** Whether `text` (a stream's carried text) holds a trigger: its next chunk is then scanned in full. */
  holdsTrigger(text: string): boolean {
    return holdsTrigger(text, this.matcher);
  }

  private scanLayer(text: string, depth: number, deadline: number, out: Hit[], toSource: (s: number, e: number) => [number, number], final: boolean, resume?: Resume): PassCarry | undefined {
    const wantViews = depth < MAX_DEPTH;
    if (!this.matcher && !this.known && !this.entropy) return undefined;
    // Only the scanned text itself is bytes; views are decoded strings.
    const utf8 = this.utf8Bytes && depth === 0;
    const core = coreScan(text, this.matcher, this.known, deadline, this.entropy && depth === 0, resume, utf8, final);
    const push = (h: Omit<Hit, 'start' | 'end'>, s: number, e: number): void => {
      const [a, b] = toSource(s, e);
      out.push({ ...h, start: a, end: b });
    };
    const infixHits: typeof core.tokens = [];
    this.matcher?.scanInfixes(text, infixHits);
    for (const t of [...core.tokens, ...infixHits]) {
      const value = text.slice(t.start, t.end);
      // Published examples and placeholders (examples.ts) are reported, but neither block nor hold anything.
      const severity = exampleCredential(t.rule.id, value) === undefined ? (t.rule.severity ?? 'block') : 'warn';
      push({ rule: t.rule.id, detector: 'token_patterns', severity, value, view: t.view, ...(t.rule.keyword ? { keyword: true } : {}) }, t.start, t.end);
    }
    if (this.known) {
      this.known.findWhole(text, core.known);
      for (const k of core.known) {
        const value = text.slice(k.start, k.end);
        const form = this.known.forms.find((f) => f.secret === k.secret && f.form === k.form);
        const exact = form !== undefined && form.text.includes(value);
        push({ rule: 'known-secret', detector: 'known_secrets', severity: 'block', value, view: exact ? k.form : `${k.form}+separators` }, k.start, k.end);
      }
    }
    if (this.entropy && depth === 0) {
      for (const r of highEntropySpans(text, core.encoded)) {
        push({ rule: 'high-entropy', detector: 'entropy', severity: 'warn', value: text.slice(r.start, r.end), view: 'raw' }, r.start, r.end);
      }
    }
    check(deadline);
    if (!wantViews || (!this.matcher && !this.known)) return core.carry;
    for (const v of buildViews(text, core, 0, text.length, utf8)) {
      check(deadline);
      const span = v.end - v.start;
      const len = Math.max(1, v.text.length);
      // Offsets inside a view map proportionally onto the encoded source span.
      const map = v.map;
      const inner = (s: number, e: number): [number, number] => {
        if (v.reversed) return toSource(v.end - e, v.end - s);
        if (map) return toSource(v.start + (map[s] ?? 0), v.start + (map[e] ?? span));
        const a = v.start + Math.floor((s * span) / len);
        const b = v.start + Math.ceil((e * span) / len);
        return toSource(Math.min(a, v.end - 1), Math.max(Math.min(b, v.end), a + 1));
      };
      const before = out.length;
      // A view of text that ends before the scanned text does is whole.
      this.scanLayer(v.text, depth + 1, deadline, out, inner, final || v.end < text.length);
      for (let i = before; i < out.length; i++) {
        const h = out[i];
        if (h) h.view = h.view === 'raw' ? v.name : `${v.name}/${h.view}`;
      }
    }
    return core.carry;
  }
}

function check(deadline: number): void {
  if (performance.now() > deadline) throw new DlpBudgetError('DLP scan exceeded its time budget');
}

const viewRank = (v: string): number => (v === 'raw' ? 0 : v === 'joined' ? 1 : 2);

/**
 * One finding per rule and overlapping span; a raw hit wins over the same
 * secret seen again in a view. A keyword finding (keywords.ts) is dropped
 * where a token rule or another keyword finding has the value already.
 */
function dedupe(hits: Hit[]): Hit[] {
  hits.sort((a, b) => Number(a.keyword === true) - Number(b.keyword === true) || viewRank(a.view) - viewRank(b.view) || a.start - b.start || b.end - a.end);
  const out: Hit[] = [];
  for (const h of hits) {
    const dup = out.some((o) => (o.rule === h.rule || (h.keyword === true && o.detector === 'token_patterns')) && o.start < h.end && h.start < o.end);
    if (!dup) out.push(h);
  }
  return out.sort((a, b) => a.start - b.start || a.end - b.end);
}

export function toFindings(text: string, hits: readonly Hit[], base?: { offset: number; line: number; column: number }): Finding[] {
  const lines = new LineIndex(text);
  return hits.map((h) => {
    let { line, column } = lines.position(h.start);
    if (base) {
      if (line === 1) column += base.column - 1;
      line += base.line - 1;
    }
    const off = base?.offset ?? 0;
    // A vendor prefix is shown only on a token that is not also a known secret.
    const prefixes = h.detector === 'token_patterns' && !hits.some((k) => k.detector === 'known_secrets' && k.start < h.end && h.start < k.end) ? vendorPrefixesOf(h.rule) : undefined;
    return { rule: h.rule, detector: h.detector, severity: h.severity, start: h.start + off, end: h.end + off, line, column, masked: mask(h.value, prefixes), view: h.view };
  });
}

const REDACT_ROUNDS = 4;

export function createScanner(opts: ScannerOptions): Scanner {
  const engine = new Engine(opts);
  const scan = (text: string): Finding[] => toFindings(text, engine.hits(text));
  return {
    scan,
    redact(text) {
      let current = text;
      let findings = scan(current);
      // Replacing one span can expose another (e.g. a decoded view), so re-scan until clean.
      for (let round = 0; round < REDACT_ROUNDS && findings.some((f) => f.severity === 'block'); round++) {
        const blocking = findings.filter((f) => f.severity === 'block').sort((a, b) => a.start - b.start);
        let cleaned = '';
        let pos = 0;
        for (const f of blocking) {
          if (f.end <= pos) continue;
          const s = Math.max(f.start, pos);
          cleaned += current.slice(pos, s) + `[REDACTED:${f.rule}]`;
          pos = f.end;
        }
        current = cleaned + current.slice(pos);
        findings = scan(current);
      }
      return { text: current, findings };
    },
  };
}
