// Keyword-anchored detection: a credential without a prefix of its own is
// found by what it is assigned to. The pass (wasm/pass.ts) reports word runs
// whose last chars end a key name that says "secret" (…PASSWORD, api_key,
// authToken, X-Api-Key, --db-password); here the key name is read whole, then
// an assignment in any of the usual shapes (`=`, `:`, `:=`, `=>`, a quoted key
// and a comma, `--flag value`, `<password>…</password>`, `name: X` + `value:`,
// a setter call), then the value (quoted, unquoted, or string literals joined
// by `+`), and judge.ts decides whether the value looks like a secret.
import { looksLikeCode, notSecret, plausibleLength, type SecretKind } from './judge.js';
import type { TokenRule } from './rules/types.js';
import type { TokenHit } from './tokens.js';

type Class = 'password' | 'secret' | 'token' | 'key' | 'auth' | 'credential' | 'pat' | 'user' | 'sas';

interface Suffix {
  text: string;
  cls: Class;
  /** The suffix must begin a subword (`DB_PASS`, `dbPass`; not `bypass`). */
  boundary: boolean;
}

/** Longest first: a key name's last subword, lowercase. */
const SUFFIXES: readonly Suffix[] = [
  { text: 'secret_key_base', cls: 'secret', boundary: true },
  { text: 'credentials', cls: 'credential', boundary: false },
  { text: 'passphrase', cls: 'password', boundary: false },
  { text: 'privatekey', cls: 'key', boundary: false },
  { text: 'secretkey', cls: 'key', boundary: false },
  { text: 'accesskey', cls: 'key', boundary: false },
  { text: 'password', cls: 'password', boundary: false },
  { text: 'authkey', cls: 'key', boundary: false },
  { text: 'passwd', cls: 'password', boundary: false },
  { text: 'secret', cls: 'secret', boundary: false },
  { text: 'apikey', cls: 'key', boundary: false },
  { text: 'appkey', cls: 'key', boundary: true },
  { text: 'token', cls: 'token', boundary: false },
  { text: 'creds', cls: 'credential', boundary: true },
  { text: 'pass', cls: 'password', boundary: true },
  { text: 'auth', cls: 'auth', boundary: true },
  { text: 'user', cls: 'user', boundary: true },
  { text: 'pwd', cls: 'password', boundary: false },
  { text: 'key', cls: 'key', boundary: true },
  { text: 'pat', cls: 'pat', boundary: true },
  { text: 'sig', cls: 'sas', boundary: true },
];

/** What the word-end table holds for key names: each suffix's last four chars (fewer: any char before). */
/**
 * The word-end table's patterns for key names (core.ts endBits): the five
 * low bits of each char from the last backwards, up to five (case folds).
 */
export function keywordEndPatterns(): number[][] {
  return SUFFIXES.map((s) => [...s.text].reverse().slice(0, 5).map((ch) => ch.charCodeAt(0) & 31));
}

/** Subwords before the last that make a key name not a secret (`sort_key`, `next_token`, `password_policy` never gets here). */
const DENY: Record<string, ReadonlySet<string>> = {
  key: new Set(['public', 'pub', 'primary', 'foreign', 'sort', 'partition', 'cache', 'lookup', 'idempotency', 'dedup', 'dedupe', 'map', 'object', 'row', 'index', 'unique', 'composite', 'group', 'routing', 'shard', 'range', 'cursor', 'i18n', 'translation', 'locale', 'react', 'list', 'item', 'child', 'node', 'element', 'query', 'search', 'filter', 'order', 'meta', 'label', 'tag', 'hot', 'short', 'field', 'column', 'table', 'hash', 'redis', 's3', 'bucket', 'file', 'path', 'icon', 'font', 'version', 'state', 'config', 'setting', 'settings', 'env', 'dict', 'json', 'attr', 'prop', 'data', 'id', 'name', 'type', 'event', 'message', 'msg', 'log', 'metric', 'job', 'task', 'queue', 'topic', 'stream', 'local', 'session', 'cookie', 'header', 'param', 'arg', 'option', 'mode', 'layout', 'style', 'theme', 'color', 'page', 'route', 'menu', 'tab', 'nav', 'ssh', 'gpg', 'pgp', 'kms', 'the', 'a', 'my', 'lock']),
  token: new Set(['next', 'page', 'continuation', 'pagination', 'sync', 'cancellation', 'cancel', 'csrf', 'xsrf', 'lexer', 'parser', 'syntax', 'max', 'min', 'num', 'total', 'input', 'output', 'prompt', 'completion', 'context', 'special', 'bos', 'eos', 'pad', 'unk', 'mask', 'sep', 'cls', 'start', 'end', 'stop', 'last', 'first', 'current', 'prev', 'previous', 'peek', 'error', 'eof', 'node', 'ast', 'type', 'kind', 'list', 'count', 'cancel', 'abort', 'resume', 'continue', 'more', 'the', 'a', 'this', 'new']),
  password: new Set(['hash', 'hashed', 'encrypted', 'policy', 'min', 'max', 'show', 'toggle', 'forgot', 'reset', 'require', 'required', 'validate', 'confirm', 'confirmation', 'old', 'new', 'retype', 'repeat', 'strength', 'rules', 'regex', 'pattern', 'hint', 'label', 'placeholder', 'field', 'input', 'error', 'change', 'update', 'check', 'verify', 'expired', 'expire', 'wrong', 'bad', 'invalid', 'test', 'dummy', 'fake', 'example', 'sample']),
  secret: new Set(['public', 'has', 'is', 'no']),
  auth: new Set(['use', 'require', 'requires', 'no', 'skip', 'enable', 'disable', 'enabled', 'disabled', 'with', 'needs', 'basic_auth_enabled']),
};
DENY['credential'] = new Set(['has', 'use', 'with', 'no', 'require']);

/** Which vendors a key name can name, for the finding's rule id. */
const VENDORS: readonly [RegExp, string, string][] = [
  [/(?:^|_)(?:datadog|dd)(?:_|$)/, 'datadog-api-key', 'datadog-app-key'],
  [/heroku/, 'heroku-api-key', 'heroku-api-key'],
  [/twilio/, 'twilio-auth-token', 'twilio-auth-token'],
  [/vercel|(?:^|_)now_token/, 'vercel-token', 'vercel-token'],
  [/bitbucket|(?:^|_)bb_app/, 'bitbucket-app-password', 'bitbucket-app-password'],
  [/doppler/, 'doppler-token', 'doppler-token'],
  [/mailgun/, 'mailgun-api-key', 'mailgun-api-key'],
  [/(?:^|_)vault(?:_|$)/, 'hashicorp-vault-token', 'hashicorp-vault-token'],
  [/sentry/, 'sentry-token', 'sentry-token'],
  [/okta/, 'okta-token', 'okta-token'],
  [/cloudflare|(?:^|_)cf_api/, 'cloudflare-api-token', 'cloudflare-api-token'],
  [/algolia/, 'algolia-api-key', 'algolia-api-key'],
];

const rules = new Map<string, TokenRule>();
/** The rule a keyword finding reports under (these rules have no regex of their own). */
export function keywordRule(id: string): TokenRule {
  let r = rules.get(id);
  if (!r) {
    r = { id, re: /(?!)/y, keyword: true };
    rules.set(id, r);
  }
  return r;
}

const isWord = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isKeyChar = (c: number): boolean => isWord(c) || c === 45 || c === 46;
const isUpper = (c: number): boolean => c >= 65 && c <= 90;
const isLower = (c: number): boolean => c >= 97 && c <= 122;
const isSpace = (c: number): boolean => c === 32 || c === 9;
const QUOTES = '"\'`';
const MAX_KEY = 64;
const MAX_QUOTED = 512;
const MAX_UNQUOTED = 256;
const MAX_PIECES = 8;

/** SUFFIXES by their last char. */
const BY_LAST: (Suffix[] | undefined)[] = [];
for (const s of SUFFIXES) (BY_LAST[s.text.charCodeAt(s.text.length - 1)] ??= []).push(s);

function suffixAt(text: string, p: number): Suffix | undefined {
  const list = BY_LAST[text.charCodeAt(p) | 32];
  if (!list) return undefined;
  next: for (const s of list) {
    const start = p - s.text.length + 1;
    if (start < 0) continue;
    for (let k = 0; k < s.text.length - 1; k++) if ((text.charCodeAt(start + k) | 32) !== s.text.charCodeAt(k)) continue next;
    return s;
  }
  return undefined;
}

/** A subword starts at `at`: after a non-letter, or an uppercase letter after a lowercase one or a digit. */
function subwordStart(text: string, at: number): boolean {
  if (at === 0) return true;
  const b = text.charCodeAt(at - 1);
  const c = text.charCodeAt(at);
  if (!isUpper(b) && !isLower(b)) return true;
  return isUpper(c) && isLower(b);
}

/** The subwords of a key name, lowercase (`X-Api-Key` → x, api, key; `dbPassword` → db, password). */
function subwords(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[_.-]+/)
    .filter((w) => w.length > 0);
}

interface Value {
  text: string;
  start: number;
  end: number;
  quoted: boolean;
  joined: boolean;
}

/** The string literal opening at `at` (a quote, or a backslash-escaped one inside a JSON string), and string literals glued to it with `+`, `.`, `&`, `||`, a line break or nothing. */
function literal(text: string, at: number): Value | undefined {
  const first = readQuoted(text, at);
  if (!first) return undefined;
  let value = first.text;
  let end = first.valueEnd;
  let after = first.end;
  let joined = false;
  for (let n = 1; n < MAX_PIECES; n++) {
    let i = after;
    for (let glue = 0; i < text.length && glue < 24; glue++) {
      const c = text.charCodeAt(i);
      // space tab LF CR + . & | and a backslash only as a line continuation
      if (c === 32 || c === 9 || c === 10 || c === 13 || c === 43 || c === 46 || c === 38 || c === 124) i++;
      else if (c === 92 && (text.charCodeAt(i + 1) === 10 || text.charCodeAt(i + 1) === 13)) i++;
      else break;
    }
    const next = readQuoted(text, i);
    if (!next || next.text.length === 0) break;
    value += next.text;
    end = next.valueEnd;
    after = next.end;
    joined = true;
  }
  return { text: value, start: first.start, end, quoted: true, joined };
}

function readQuoted(text: string, at: number): { text: string; start: number; valueEnd: number; end: number } | undefined {
  let q = text.charCodeAt(at);
  let open = 1;
  // `\"` opens a string inside a JSON string (code in a model request's body).
  if (q === 92 && QUOTES.includes(text.charAt(at + 1))) {
    q = text.charCodeAt(at + 1);
    open = 2;
  } else if (!QUOTES.includes(String.fromCharCode(q))) return undefined;
  const start = at + open;
  const limit = Math.min(text.length, start + MAX_QUOTED);
  for (let i = start; i < limit; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || c === 13) return undefined;
    if (open === 2) {
      if (c === 92 && text.charCodeAt(i + 1) === q) return { text: text.slice(start, i), start, valueEnd: i, end: i + 2 };
      continue;
    }
    if (c === 92) {
      i++;
      continue;
    }
    if (c === q) return { text: text.slice(start, i), start, valueEnd: i, end: i + 1 };
  }
  return undefined;
}

/** An unquoted value: up to whitespace or a char that ends a value in config, URLs, logs and code. */
function bare(text: string, at: number): Value | undefined {
  let i = at;
  const limit = Math.min(text.length, at + MAX_UNQUOTED + 1);
  while (i < limit) {
    const c = text.charCodeAt(i);
    // whitespace ; , & ) ] } > < " ' ` backslash
    if (c <= 32 || c === 59 || c === 44 || c === 38 || c === 41 || c === 93 || c === 125 || c === 62 || c === 60 || c === 34 || c === 39 || c === 96 || c === 92) break;
    i++;
  }
  let end = i;
  while (end > at && (text.charCodeAt(end - 1) === 46 || text.charCodeAt(end - 1) === 58)) end--;
  if (end === at) return undefined;
  return { text: text.slice(at, end), start: at, end, quoted: false, joined: false };
}

const TYPED = /^&?(?:'static\s+)?[A-Za-z_][\w.]*(?:<[\w ,.<>]*>|\[[\w ,.[\]]*\])?(?:\[\])?\??(?:\s{0,2}\|\s{0,2}(?:null|undefined|None))?\s{0,4}=(?![=>])\s{0,4}/;

const isTypeStart = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 38;

function skipSpaces(text: string, i: number, max = 8): number {
  let k = 0;
  while (k < max && isSpace(text.charCodeAt(i))) {
    i++;
    k++;
  }
  return i;
}

/** The value after an assignment starting at `i` (after the key and its closing quote). */
function assigned(text: string, i: number, ctx: { quotedKey: boolean; flag: boolean; call: boolean; xml: boolean; netrc: boolean; define: boolean }): Value | undefined {
  if (ctx.xml) {
    // <password>value</password>
    if (text.charCodeAt(i) !== 62) return undefined;
    const close = text.slice(i + 1, i + 2 + MAX_UNQUOTED).indexOf('</') + i + 1;
    if (close === i) return undefined;
    const v = text.slice(i + 1, close);
    return { text: v, start: i + 1, end: close, quoted: true, joined: false };
  }
  const afterKey = i;
  i = skipSpaces(text, i);
  const c = text.charCodeAt(i);
  const c1 = text.charCodeAt(i + 1);
  let op = 0;
  if (c === 61 && c1 !== 61 && c1 !== 126) op = 1; // = (not == or =~); => too
  else if (c === 58 && c1 === 61) op = 2; // :=
  else if (c === 58 && c1 !== 58) op = 1; // : (not ::)
  else if (c === 63 && c1 === 61) op = 2; // ?=
  else if (c === 124 && c1 === 124 && text.charCodeAt(i + 2) === 61) op = 3; // ||=
  else if (c === 44 && ctx.quotedKey) op = 1; // "password", "value"
  else if (c === 40 && ctx.call) op = 1; // setPassword("value")
  if (op === 0) {
    // `--token value`, netrc `password value`: whitespace is the assignment.
    if ((ctx.flag || ctx.netrc || ctx.define) && i > afterKey) return valueAt(text, i);
    // Go: `var apiKey string = "…"`.
    if (text.startsWith('string', i) || text.startsWith('[]byte', i)) {
      const go = /^\s{1,4}(?:string|\[\]byte)\s{0,4}=(?![=>])\s{0,4}/.exec(text.slice(afterKey, afterKey + 32));
      if (go) return valueAt(text, afterKey + go[0].length);
    }
    // `name: API_KEY` / `"name": "API_KEY"` followed by a value field.
    const near = text.slice(afterKey, afterKey + 64);
    if (!near.includes('value')) return undefined;
    const m = /^["']?\s{0,4}[,\r\n]?[\s,]{0,24}["']?value["']?\s{0,4}[:=]\s{0,4}/.exec(near);
    return m ? valueAt(text, afterKey + m[0].length) : undefined;
  }
  const colon = c === 58 && op === 1;
  i += op;
  if (text.charCodeAt(i) === 62) i++; // =>
  i = skipSpaces(text, i);
  // A type between the name and the value: `API_KEY: string = "…"`, `token: Optional[str] = "…"`, `key: &str = "…"`.
  if (colon && isTypeStart(text.charCodeAt(i))) {
    if (text.slice(i, i + 64).includes('=')) {
      const typed = TYPED.exec(text.slice(i, i + 80));
      if (typed) i += typed[0].length;
    }
  }
  const v = valueAt(text, i);
  // `"password", value` and `setPassword(value)`: only a string literal is a value there.
  if (v && (ctx.call || c === 44) && !v.quoted) return undefined;
  return v;
}

function valueAt(text: string, i: number): Value | undefined {
  const c = text.charCodeAt(i);
  // YAML block scalars and empty values.
  if (c === 124 || c === 62 || c === 10 || c === 13 || Number.isNaN(c)) return undefined;
  // Python's implicit concatenation in parentheses: `KEY = ("abc"\n  "def")`.
  if (c === 40 && QUOTES.includes(text.charAt(i + 1))) return literal(text, i + 1);
  return literal(text, i) ?? bare(text, i);
}

/**
 * Looks at the word run ending at `p` (its last char): a key name whose last
 * subword says it holds a secret, assigned a value that looks like one.
 * Pushes the value's span. `final`: no more text follows.
 */
export function keywordAt(text: string, p: number, out: TokenHit[], final = true): void {
  if (isWord(text.charCodeAt(p + 1)) || !mayAssign(text, p)) return;
  const suf = suffixAt(text, p);
  if (!suf) return;
  const sufStart = p - suf.text.length + 1;
  if (suf.boundary && !subwordStart(text, sufStart)) return;
  if (suf.cls === 'sas') return sasAt(text, p, out);
  let ks = sufStart;
  while (ks > 0 && p - ks < MAX_KEY && isKeyChar(text.charCodeAt(ks - 1))) ks--;
  // `\nAPI_KEY=` inside a JSON string: the escape's letter is not part of the name.
  if (text.charCodeAt(ks - 1) === 92 && ks < sufStart && 'ntr'.includes(text.charAt(ks))) ks++;
  let dashes = 0;
  while (text.charCodeAt(ks + dashes) === 45) dashes++;
  const key = text.slice(ks + dashes, p + 1);
  const before = text.charCodeAt(ks - 1);
  const flag = dashes > 0 && (ks === 0 || isSpace(before) || before === 34 || before === 39);
  // `user` only as curl's (and httpie's, wget's) `--user name:secret`.
  const user = suf.cls === 'user';
  if (user && (!flag || key !== 'user')) return;

  // The assignment and its value first: most words ending like a key name (`token()`, `key in obj`) have none.
  let i = p + 1;
  let quotedKey = false;
  if ((before === 34 || before === 39 || before === 96) && text.charCodeAt(i) === before) {
    i++;
    quotedKey = true;
  } else if (before === 34 && text.charCodeAt(ks - 2) === 92 && text.charCodeAt(i) === 92 && text.charCodeAt(i + 1) === 34) {
    // `\"password\": \"…\"` inside a JSON string.
    i += 2;
    quotedKey = true;
  }
  if (text.charCodeAt(i) === 93) i++; // ENV["TOKEN"] = …
  let w = p;
  while (w > 0 && isWord(text.charCodeAt(w - 1))) w--;
  const call = text.charCodeAt(i) === 40 && setterAt(text, w);
  const xml = before === 60;
  const netrc = (key === 'password' || key === 'passwd') && isSpace(text.charCodeAt(i)) && /(?:^|\n)[ \t]*$|\blogin\s+\S+\s+$/.test(text.slice(Math.max(0, ks - 96), ks));
  const define = isSpace(text.charCodeAt(i)) && defineAt(text, p);
  const v = assigned(text, i, { quotedKey, flag, call, xml, netrc, define });
  // An unquoted value that runs to the end of a stream's part may go on: it is looked at again with more text.
  if (!v || (!final && !v.quoted && v.end >= text.length)) return;
  // `token = scanner.scan()`: a call, not a value; then the cheap tests, before the key name is read closely.
  if (!v.quoted && text.charCodeAt(v.end) === 40) return;
  const kind: SecretKind = suf.cls === 'password' || user ? 'password' : 'token';
  if (!plausibleLength(v.text, kind) || (!v.quoted && looksLikeCode(v.text))) return;

  // Then the key name: does it say what the value is?
  const words = subwords(key);
  if (words.length === 0) return;
  const qualifier = words.length > 1 ? words[words.length - 2]! : '';
  // A bare `key` says nothing (dictionary keys, cache keys); `api_key`, `apikey`, `X-Api-Key` do.
  if (suf.text === 'key' && qualifier === '') return;
  if (suf.cls === 'pat' && !/^(?:github|gh|gitlab|gl|ado|azure|devops|personal|access|api|bitbucket|vsts|docker|hf|npm|pypi)$/.test(qualifier)) return;
  const deny = DENY[suf.cls];
  if (deny && qualifier !== '' && deny.has(qualifier)) return;
  if (words.includes('public') || words.includes('pub') || words.includes('publishable')) return;

  let value = v.text;
  let start = v.start;
  if (user) {
    // name:secret: the secret is what is judged and reported.
    const colon = value.indexOf(':');
    if (colon <= 0 || value.indexOf(':', colon + 1) !== -1 || !/^[\w.@+-]+$/.test(value.slice(0, colon))) return;
    value = value.slice(colon + 1);
    start += colon + 1;
  }
  if (notSecret(value, kind, v.quoted) !== undefined) return;
  out.push({ rule: keywordRule(user ? 'curl-auth-user' : ruleId(key.toLowerCase(), kind)), start, end: user ? start + value.length : v.end, view: v.joined ? 'joined' : 'raw' });
}

const SAS_SIGNATURE = /(?:[A-Za-z0-9+/]|%2[BbFf]){42,43}(?:%3[Dd]|=)/y;

/**
 * An Azure SAS token's signature (`…?sv=2022-11-02&…&sig=<base64 of a 32-byte
 * HMAC>`), in a URL, a connection string or alone: `sig` is a query
 * parameter, the URL-decoded value is base64 of 32 bytes, and `sv=` (the
 * service version) comes before it in the same query.
 */
function sasAt(text: string, p: number, out: TokenHit[]): void {
  const prev = text.charCodeAt(p - 3);
  if (text.charCodeAt(p + 1) !== 61 || (prev !== 38 && prev !== 63 && prev !== 59)) return;
  SAS_SIGNATURE.lastIndex = p + 2;
  const m = SAS_SIGNATURE.exec(text);
  if (!m || isKeyChar(text.charCodeAt(p + 2 + m[0].length)) || !text.slice(Math.max(0, p - 600), p).includes('sv=')) return;
  try {
    if (Buffer.from(decodeURIComponent(m[0]), 'base64').length !== 32) return;
  } catch {
    return;
  }
  out.push({ rule: keywordRule('azure-sas-token'), start: p + 2, end: p + 2 + m[0].length, view: 'raw' });
}

/**
 * A cheap look at what follows the word ending at `p`: an assignment can
 * follow (`=`, `:`, a closing quote, `]`, `>`, `(`, a line break before a
 * `value:` field), or whitespace before one of those, a flag's value, netrc's
 * password or Go's `string =`. Code that only uses such a word (`token()`,
 * `token.kind`, `if (token)`) stops here.
 */
function mayAssign(text: string, p: number): boolean {
  const c = text.charCodeAt(p + 1);
  switch (c) {
    case 61: // =
    case 58: // :
    case 34: // "
    case 39: // '
    case 96: // `
    case 93: // ]
    case 62: // >
    case 92: // backslash (an escaped quote)
    case 10:
    case 13:
      return true;
    case 63: // ?=
      return text.charCodeAt(p + 2) === 61;
    case 124: // ||=
      return text.charCodeAt(p + 2) === 124 && text.charCodeAt(p + 3) === 61;
    case 40: {
      // setPassword("…"), withToken("…")
      let w = p;
      while (w > 0 && isWord(text.charCodeAt(w - 1))) w--;
      return setterAt(text, w);
    }
    case 32:
    case 9: {
      let q = p + 1;
      while (q < p + 8 && isSpace(text.charCodeAt(q))) q++;
      const d = text.charCodeAt(q);
      if (d === 61 || d === 58) return true;
      if ((d === 63 && text.charCodeAt(q + 1) === 61) || (d === 124 && text.charCodeAt(q + 1) === 124)) return true;
      if ((d === 34 || d === 39) && defineAt(text, p)) return true;
      if (d === 42 || d === 47 || d === 41 || d === 59 || d === 123) return false; // * / ) ; {
      if (text.startsWith('string', q) || text.startsWith('[]byte', q)) return true;
      // A flag (`--api-key value`: a dash before some subword), or netrc's `password value`.
      let k = p;
      while (k > 0 && p - k < MAX_KEY && isWord(text.charCodeAt(k - 1))) k--;
      return text.charCodeAt(k - 1) === 45 || endsWithLower(text, p, 'password') || endsWithLower(text, p, 'passwd');
    }
    default:
      return false;
  }
}

/** The word ending at `p` is the name of a C `#define` (`#define API_KEY "…"`). */
function defineAt(text: string, p: number): boolean {
  let w = p;
  while (w > 0 && isWord(text.charCodeAt(w - 1))) w--;
  return /(?:^|\n)[ \t]*#[ \t]*define[ \t]+$/.test(text.slice(Math.max(0, w - 24), w));
}

/** `set` or `with` and a capital or `_` at `w`. */
function setterAt(text: string, w: number): boolean {
  const n = text.charCodeAt(w) === 115 && text.charCodeAt(w + 1) === 101 && text.charCodeAt(w + 2) === 116 ? 3 : text.startsWith('with', w) ? 4 : 0;
  const c = text.charCodeAt(w + n);
  return n > 0 && (isUpper(c) || c === 95);
}

function endsWithLower(text: string, p: number, word: string): boolean {
  const s = p - word.length + 1;
  if (s < 0) return false;
  for (let k = 0; k < word.length; k++) if ((text.charCodeAt(s + k) | 32) !== word.charCodeAt(k)) return false;
  return true;
}

function ruleId(key: string, kind: SecretKind): string {
  const snake = key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase().replace(/[.-]+/g, '_');
  for (const [re, api, app] of VENDORS) if (re.test(snake)) return /(?:^|_)app(?:lication)?_key$/.test(snake) ? app : api;
  return kind === 'password' ? 'generic-password' : 'generic-api-key';
}
