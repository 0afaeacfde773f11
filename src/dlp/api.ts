/**
 * The DLP contract shared by egress, git-gate and `bot-bottle scan`.
 * (Types only; the implementation lives beside this file.)
 */

export type DetectorName = 'token_patterns' | 'known_secrets' | 'entropy' | 'naive_injection_detection';

export interface Finding {
  /** Rule id, e.g. `github-pat`, `known-secret`, `injection-ignore-previous`. */
  rule: string;
  detector: DetectorName;
  /** `block` findings stop the request (or trigger redact/supervise); `warn` ones are only logged. */
  severity: 'block' | 'warn';
  /** Offsets into the scanned text (UTF-16 code units, as JS strings index). For findings on a decoded view, the span of the encoded source. */
  start: number;
  end: number;
  /** 1-based line and column of `start`. */
  line: number;
  column: number;
  /** `****`, after the rule's fixed vendor prefix when it has one (`ghp_****`); never a character of the value. */
  masked: string;
  /** Which view found it: `raw`, `base64`, `url`, `hex`, `escape`, `nfkc`, `joined`... */
  view: string;
}

export interface ScannerOptions {
  detectors: readonly DetectorName[];
  /** Values that must never leave: token slot values and sensitive host env values. */
  knownSecrets?: readonly string[];
  /** Wall-clock budget for one scan call; exceeding it throws DlpBudgetError (fail closed). */
  timeBudgetMs?: number;
  /**
   * The text is UTF-8 bytes read as latin1, one char per byte (a request body): findings keep byte
   * offsets, and the NFKC view decodes the bytes around non-ASCII ones, so zero-width and
   * compatibility chars hidden in a token are seen as the characters they are.
   */
  utf8Bytes?: boolean;
}

export interface Scanner {
  scan(text: string): Finding[];
  /** Replace every blocking finding's span, re-scan, and return the cleaned text. */
  redact(text: string): { text: string; findings: Finding[] };
}

/**
 * Incremental scanning for streams: keeps a bounded carry-over window so a
 * match split across chunks is still found; never holds the whole body.
 */
export interface StreamScanner {
  /** Scan a chunk; returns findings whose span ends inside this chunk or the carry window. */
  push(chunk: string): Finding[];
  /**
   * push() of the bytes as latin1 (one char per byte; the chunks in order, as one),
   * without building a string when they hold nothing to look at. The stream may
   * keep a reference to the last chunk's tail: do not modify it afterwards.
   */
  pushBytes(chunks: Buffer | readonly Buffer[]): Finding[];
  end(): Finding[];
}

export class DlpBudgetError extends Error {
  override name = 'DlpBudgetError';
}
