export interface TokenRule {
  id: string;
  /** Literal prefixes that start a word run ([A-Za-z0-9_]) where this rule can match; matched case-sensitively unless `ignoreCase`. */
  anchors?: readonly string[];
  /** Alternative to anchors for tokens that do not start a word run: a literal found by indexOf anywhere in the text. */
  infix?: string;
  ignoreCase?: boolean;
  /** Sticky regex tried at the anchor's word-run start (after moving back `back` chars when `before` matched). Bounded quantifiers only. */
  re: RegExp;
  /** Text that must directly precede the anchor/infix (tested on up to 48 chars before it); the finding then starts where this match starts. */
  before?: RegExp;
  /** Shortest word run at the anchor that can start a match; cheap reject for ordinary words. */
  minRun?: number;
  /** Capture group holding the secret; the finding spans only that group. */
  group?: number;
  validate?: (value: string) => boolean;
  /** Cheap test at the anchor's word-run start (or the infix position) before any regex runs. */
  quick?: (text: string, at: number) => boolean;
  /** Never try re-joining split fragments for this rule (generic anchors). */
  noJoin?: boolean;
  severity?: 'block' | 'warn';
  /** Found by its key name (keywords.ts), not a regex: yields to a rule that matched the same value. */
  keyword?: boolean;
}
