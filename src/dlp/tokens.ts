// token_patterns engine. Rules are never run over the whole text: the main
// loop (core.ts) calls matchRun() at the start of word runs whose first two
// chars begin some rule's anchor, and scanInfixes() finds the few mid-word
// markers by indexOf. Every regex is sticky and bounded, so work stays linear.
import { TOKEN_RULES, type TokenRule } from './rules/index.js';

export interface TokenHit {
  rule: TokenRule;
  start: number;
  end: number;
  view: 'raw' | 'joined';
}

/** Chars a token fragment may contain when re-joining a split token. */
const FRAG = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.+/=~:$') FRAG[c.charCodeAt(0)] = 1;
/** What may sit between fragments: quotes, concatenation operators, whitespace, line continuations. */
const GLUE = new Uint8Array(128);
for (const c of ' \t\r\n"\'`+\\,') GLUE[c.charCodeAt(0)] = 1;
/** A split is only suspected when a fragment ends in one of these (not a plain space). */
const JOIN_TRIGGER = new Uint8Array(128);
for (const c of '\r\n"\'`+\\') JOIN_TRIGGER[c.charCodeAt(0)] = 1;
const MAX_GLUE = 12;
const MAX_JOINED = 600;
const MAX_FRAGMENTS = 12;
const BEFORE_WINDOW = 48;
/**
 * Two-char fragments worth joining from (`"gh" + "p_…"`): the starts of the
 * most common tokens, and none that code and prose write before a quote or a
 * line break all the time (`"do"`, `"sh"`, `"AI"`). Three chars of any anchor
 * (`"ghp" + "_…"`) are joined from without a list.
 */
const JOIN_PREFIXES = new Set(['gh', 'gl', 'xo', 'sk', 'AK', 'AS', 'np', 'hf', 'rk', 'dc', 'SG', 'ya', 'sq', 'EA', 'GO', 'PM', 'CF', 'HR', 'LT', 'EZ', 'FL', 'CL']);
/** Longer than any anchor: a fragment this long that matched none is not a split one. */
const MAX_ANCHOR = 24;

interface Compiled {
  rule: TokenRule;
  anchors: readonly string[];
  /** The anchor's leading word chars must fit in the run: rejects "to" for anchor "together" without reading text. */
  anchorRun: number;
  minRun: number;
  /** Split-token re-joining only for distinctive anchors (≥ 3 chars), not keyword or one-letter ones. */
  joinable: boolean;
}

const wordPrefix = (a: string): number => /^[A-Za-z0-9_]*/.exec(a)![0].length;

function startsWithIgnoreCase(text: string, at: number, lowerAnchor: string): boolean {
  if (at + lowerAnchor.length > text.length) return false;
  for (let j = 0; j < lowerAnchor.length; j++) {
    let c = text.charCodeAt(at + j);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lowerAnchor.charCodeAt(j)) return false;
  }
  return true;
}

export class TokenMatcher {
  /** (c0 << 7 | c1) of a word run's first two chars → bucket index + 1 (0: no rule). */
  readonly dispatch = new Int32Array(128 * 128);
  /** Per bucket: the shortest word run any of its rules can use. */
  readonly bucketMinRun: number[] = [0];
  /**
   * Per dispatch key: the shortest word run any anchor with that key can use
   * (its word prefix, and its rule's minRun unless the rule re-joins split
   * tokens). Finer than bucketMinRun: `api_org_` needs 8 even though `hf_`
   * shares its rule. 0: no anchor has this key.
   */
  readonly keyGate = new Int32Array(128 * 128);
  /**
   * Per bucket, 4 words: a 128-bit set of the chars that may follow the first
   * two (the anchors' third chars; all set when an anchor is shorter). Words
   * starting "co", "us", "ap"... are common; "coh", "api" are not.
   */
  readonly bucketThird: Uint32Array[] = [new Uint32Array(4)];
  private readonly buckets: Compiled[][] = [];
  private readonly infixes: { infix: string; rules: TokenRule[] }[] = [];
  /**
   * Anchors distinctive enough to look for written backwards (3+ chars,
   * case-sensitive, at the token's start): a reversed token ends with one
   * reversed, and the pass reports word ends that do (core.ts endBits).
   */
  readonly reversedAnchors: readonly string[];
  /** reversedAnchors by their first char (ASCII). */
  private readonly reversedByFirst: (string[] | undefined)[] = [];

  constructor(rules: readonly TokenRule[] = TOKEN_RULES) {
    const reversed = new Set<string>();
    for (const rule of rules) {
      if (rule.ignoreCase || rule.before || rule.noJoin || rule.keyword) continue;
      // Punctuation in the first chars folds onto letters in the word-end table (`SG.` would match every "…ings").
      for (const a of rule.anchors ?? []) if (a.length >= 3 && /^[A-Za-z0-9_-]+$/.test(a.slice(0, 5))) reversed.add(a);
    }
    this.reversedAnchors = [...reversed];
    const prefixes = new Set<string>();
    for (const rule of rules) {
      const anchors = rule.anchors ?? [];
      const joinable = rule.noJoin !== true && rule.group === undefined && rule.before === undefined && anchors.length > 0 && Math.min(...anchors.map((a) => a.length)) >= 3;
      if (joinable && !rule.ignoreCase) for (const a of anchors) if (wordPrefix(a) >= 2 && JOIN_PREFIXES.has(a.slice(0, 2))) prefixes.add(a.slice(0, 2));
    }
    this.joinPrefixes = [...prefixes];
    for (const a of reversed) (this.reversedByFirst[a.charCodeAt(0)] ??= []).push(a);
    for (const rule of rules) {
      if (rule.infix !== undefined) {
        const slot = this.infixes.find((x) => x.infix === rule.infix);
        if (slot) slot.rules.push(rule);
        else this.infixes.push({ infix: rule.infix, rules: [rule] });
      }
      const anchors = rule.anchors ?? [];
      const anchorRun = anchors.length > 0 ? Math.min(...anchors.map(wordPrefix)) : 0;
      const joinable = rule.noJoin !== true && rule.group === undefined && rule.before === undefined && anchors.length > 0 && Math.min(...anchors.map((a) => a.length)) >= 3;
      const compiled: Compiled = { rule, anchors: rule.ignoreCase ? anchors.map((a) => a.toLowerCase()) : anchors, anchorRun, minRun: rule.minRun ?? 1, joinable };
      const ruleGate = joinable ? anchorRun : Math.max(anchorRun, compiled.minRun);
      for (const anchor of anchors) {
        if (wordPrefix(anchor) === 0) throw new Error(`token rule ${rule.id}: anchor "${anchor}" must start with a word char`);
        const gate = Math.max(wordPrefix(anchor), ruleGate);
        for (const key of this.keys(anchor, rule.ignoreCase === true)) {
          this.add(key, compiled);
          this.allowThird(this.dispatch[key]!, anchor, rule.ignoreCase === true);
          const old = this.keyGate[key] ?? 0;
          this.keyGate[key] = old === 0 ? gate : Math.min(old, gate);
        }
      }
    }
  }

  private keys(anchor: string, ignoreCase: boolean): number[] {
    const variants = (ch: string | undefined): string[] =>
      ch === undefined ? [] : ignoreCase ? [...new Set([ch.toLowerCase(), ch.toUpperCase()])] : [ch];
    const firsts = variants(anchor[0]);
    // A one-char anchor fits any second char (including end of run, code 0).
    const seconds = anchor.length > 1 ? variants(anchor[1]) : [...Array(128).keys()].map((c) => String.fromCharCode(c));
    const out: number[] = [];
    for (const a of firsts) for (const b of seconds) out.push((a.charCodeAt(0) << 7) | (b.charCodeAt(0) & 127));
    return out;
  }

  private allowThird(bucket: number, anchor: string, ignoreCase: boolean): void {
    const mask = (this.bucketThird[bucket] ??= new Uint32Array(4));
    const third = anchor[2];
    if (third === undefined || third.charCodeAt(0) > 127) {
      mask.fill(0xffffffff);
      return;
    }
    for (const ch of ignoreCase ? [third.toLowerCase(), third.toUpperCase()] : [third]) {
      const c = ch.charCodeAt(0);
      mask[c >>> 5] = mask[c >>> 5]! | (1 << (c & 31));
    }
  }

  /**
   * A word run of 2+ chars that only begins an anchor and ends before a char
   * that can glue fragments (`"gh" + "p_…"`): core.ts dispatches it even
   * though it is shorter than the anchor, and matchRun joins it.
   */
  static readonly JOIN_TRIGGER = JOIN_TRIGGER;

  /** The first two chars of joinable anchors whose first two are word chars (core.ts adds their starts before a glue char). */
  readonly joinPrefixes: readonly string[];

  /** Whether the text read backwards from `p` (inclusive) begins with an anchor: a token written in reverse ends there. */
  reversedAt(text: string, p: number): boolean {
    const list = this.reversedByFirst[text.charCodeAt(p)];
    if (!list) return false;
    next: for (const a of list) {
      if (p - a.length + 1 < 0) continue;
      for (let k = 0; k < a.length; k++) if (text.charCodeAt(p - k) !== a.charCodeAt(k)) continue next;
      return true;
    }
    return false;
  }

  /** Whether the char after a word run's first two chars (0 past the end) can continue an anchor of `bucket`. */
  thirdAllowed(bucket: number, c: number): boolean {
    const mask = this.bucketThird[bucket];
    return mask !== undefined && c < 128 && (mask[c >>> 5]! & (1 << (c & 31))) !== 0;
  }

  private add(key: number, c: Compiled): void {
    let idx = this.dispatch[key] ?? 0;
    if (idx === 0) {
      this.buckets.push([]);
      idx = this.buckets.length;
      this.dispatch[key] = idx;
    }
    const bucket = this.buckets[idx - 1];
    if (bucket && !bucket.includes(c)) bucket.push(c);
    const gate = c.joinable ? c.anchorRun : Math.max(c.anchorRun, c.minRun);
    this.bucketMinRun[idx] = Math.min(this.bucketMinRun[idx] ?? gate, gate);
  }

  /** Try the rules of `bucket` at the word run [start, end). */
  matchRun(text: string, bucket: number, start: number, end: number, out: TokenHit[]): void {
    const rules = this.buckets[bucket - 1];
    if (!rules) return;
    const run = end - start;
    /** Where the fragment at `start` ends when a glue char follows it within an anchor's length (-1: not a split; undefined: not looked at yet). */
    let split: number | undefined;
    for (const c of rules) {
      const { rule } = c;
      let anchored = false;
      if (run >= c.anchorRun) {
        for (const a of c.anchors) {
          if (rule.ignoreCase ? startsWithIgnoreCase(text, start, a) : text.startsWith(a, start)) {
            anchored = true;
            break;
          }
        }
      }
      if (!anchored) {
        // `"gh" + "p_…"`, `'sk-an' + 't-…'`: the split falls inside the anchor.
        if (c.joinable) {
          if (split === undefined) {
            let i = start;
            while (i < text.length && i - start < MAX_ANCHOR && (FRAG[text.charCodeAt(i)] ?? 0) === 1) i++;
            split = i - start >= 2 && (JOIN_TRIGGER[text.charCodeAt(i)] ?? 0) === 1 ? i : -1;
          }
          if (split !== -1) this.tryJoined(text, rule, start, out, c.anchors, true);
        }
        continue;
      }
      if (rule.quick && !rule.quick(text, start)) continue;
      if (rule.before) {
        const m = rule.before.exec(text.slice(Math.max(0, start - BEFORE_WINDOW), start));
        if (m) this.tryAt(text, rule, start - m[0].length, out);
        continue;
      }
      if (run >= c.minRun && this.tryAt(text, rule, start, out)) continue;
      if (c.joinable) this.tryJoined(text, rule, start, out, c.anchors);
    }
  }

  /** Rules whose marker sits mid-word (`://`, `Q~`, `-----BEGIN`): found by indexOf, confirmed by `before` + regex. */
  infixStrings(): string[] {
    return this.infixes.map((x) => x.infix);
  }

  scanInfixes(text: string, out: TokenHit[], from = 0, to = text.length): void {
    for (const { infix, rules } of this.infixes) {
      for (let p = text.indexOf(infix, from); p !== -1 && p < to; p = text.indexOf(infix, p + 1)) {
        for (const rule of rules) {
          if (rule.quick && !rule.quick(text, p)) continue;
          let start = p;
          if (rule.before) {
            const m = rule.before.exec(text.slice(Math.max(0, p - BEFORE_WINDOW), p));
            if (!m) continue;
            start = p - m[0].length;
          }
          this.tryAt(text, rule, start, out);
        }
      }
    }
  }

  private tryAt(text: string, rule: TokenRule, start: number, out: TokenHit[]): boolean {
    const re = rule.re;
    re.lastIndex = start;
    const m = re.exec(text);
    if (!m) return false;
    const value = rule.group !== undefined ? m[rule.group] : m[0];
    if (value === undefined || (rule.validate && !rule.validate(value))) return false;
    const s = rule.group !== undefined ? start + m[0].lastIndexOf(value) : start;
    out.push({ rule, start: s, end: s + value.length, view: 'raw' });
    return true;
  }

  /**
   * A token split by concatenation or line breaks (`"sk-ant-" + "api03…"`):
   * glue the fragments that follow the anchor and retry the rule. `partial`:
   * the first fragment (2+ chars) is only the start of an anchor.
   */
  private tryJoined(text: string, rule: TokenRule, start: number, out: TokenHit[], anchors: readonly string[], partial = false): void {
    let i = start;
    while (i < text.length && (FRAG[text.charCodeAt(i)] ?? 0) === 1) i++;
    if (i >= text.length || i - start > MAX_JOINED || (JOIN_TRIGGER[text.charCodeAt(i)] ?? 0) !== 1) return;
    // The fragment must hold a whole anchor (or begin one, when partial), or there is nothing distinctive to join from.
    if (partial ? i - start < 2 || !anchors.some((a) => a.length > i - start && a.startsWith(text.slice(start, i))) : !anchors.some((a) => i - start >= a.length)) return;
    const firstEnd = i;
    const pieces: string[] = [text.slice(start, i)];
    const origin: number[] = [start];
    let joinedLen = i - start;
    // Retry after each added fragment: the token usually ends where a fragment does,
    // and gluing on unrelated text after it would defeat the rule's end boundary.
    for (let f = 1; f < MAX_FRAGMENTS && joinedLen < MAX_JOINED && i < text.length; f++) {
      const glueStart = i;
      while (i < text.length && i - glueStart <= MAX_GLUE && (GLUE[text.charCodeAt(i)] ?? 0) === 1) i++;
      if (i - glueStart > MAX_GLUE) return;
      const fragStart = i;
      while (i < text.length && (FRAG[text.charCodeAt(i)] ?? 0) === 1 && i - fragStart < MAX_JOINED) i++;
      if (i === fragStart) return;
      pieces.push(text.slice(fragStart, i));
      origin.push(fragStart);
      joinedLen += i - fragStart;
      const hits: TokenHit[] = [];
      if (!this.tryAt(pieces.join(''), rule, 0, hits)) continue;
      const hit = hits[0];
      if (!hit || hit.end <= firstEnd - start) return;
      out.push({ rule, start: mapJoined(pieces, origin, hit.start), end: mapJoined(pieces, origin, hit.end - 1) + 1, view: 'joined' });
      return;
    }
  }
}

function mapJoined(pieces: readonly string[], origin: readonly number[], offset: number): number {
  let rest = offset;
  for (let k = 0; k < pieces.length; k++) {
    const len = pieces[k]?.length ?? 0;
    if (rest < len) return (origin[k] ?? 0) + rest;
    rest -= len;
  }
  return (origin[origin.length - 1] ?? 0) + (pieces[pieces.length - 1]?.length ?? 0);
}
