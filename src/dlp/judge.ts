// Whether a value with no prefix of its own, assigned to a key name that says
// it is a secret, looks like one: long and varied enough, and not a
// placeholder, a reference to where the secret lives (an env variable, a
// template, a secret manager), a hash, a public key, an encrypted blob, a
// path, a URL or a word. Precision matters as much as recall here: on egress
// a false alarm holds or blocks the agent's request.
import { shannon } from './entropy.js';

/** What the key name says the value is: a password-like value may be short and human-made; the others are machine-made. */
export type SecretKind = 'password' | 'token';

const MAX_VALUE = 256;
const MIN_PASSWORD = 6;
const MIN_TOKEN = 16;

/** References: where the secret comes from, not the secret. */
const REFERENCE =
  /\$\{|\$\(|\$[A-Z_][A-Z0-9_]{2,}|\{\{|\}\}|\{%|^\$[A-Za-z_{(]|^%[A-Za-z_][\w.]*%$|^<[^<>]*>$|^\[[^\]]*\]$|^!(?:Ref|Sub|GetAtt|ImportValue|vault|secret|env)\b|^ENC\[|^vault:|^op:\/\/|^arn:aws|^projects\/|^(?:sm|ssm|gcp|azure|aws|env|file|secret|secrets|keyvault|vault|cred|kms|pass|ref\+\w+):|process\.env|os\.environ|os\.getenv|getenv\(|System\.getenv|ENV\[|Environment\.|\bsecrets\.|\bvars\.|\binputs\.|\bparams\.|\bsettings\.|\bconfig\.|\bself\.|\bthis\./;

/** Published hashes and encrypted forms: a hash of a password is not the password. */
const HASH_OR_CIPHER = /^\$(?:2[abxy]?|1|5|6|y|gy|7|apr1|argon2(?:id|i|d)|pbkdf2[\w-]*|scrypt|sha\d*|md5)\$|^(?:pbkdf2_sha\d+|bcrypt_sha\d+|argon2|sha\d+|md5)\$|^\{(?:SSHA|SHA|SHA256|SSHA512|MD5|CRYPT|bcrypt|noop)\}|^\$ANSIBLE_VAULT|^AQICAH|^AQIDAH|^gAAAAA|^AgB[A-Za-z0-9+/]{200}|^-----BEGIN (?:PGP|PUBLIC|CERTIFICATE|ENCRYPTED)|^(?:ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-|sk-ssh-|sk-ecdsa-)|^pk_(?:live|test)_|^pk\.eyJ|^age1[0-9a-z]{50}|^npub1/;

/** Values made of the words placeholders are made of, or famous sample passwords. */
const PLACEHOLDER_WORD = /password|passwd|secret|token|api[_-]?key|changeme|change[_-]me|example|sample|dummy|fake|placeholder|redacted|your|insert|replace|paste|enter[_-]|todo|fixme|xxxx|\*\*\*|\.\.\.|test|mock|stub|demo|default|invalid|expired|notreal|not[_-]a[_-]real/i;
const WEAK = new Set(['hunter2', 'letmein', 'qwerty', 'qwertyuiop', 'admin', 'administrator', 'root', 'toor', 'guest', 'welcome', 'pass', 'passw0rd', 'p@ssw0rd', 'p@ssword', 'iloveyou', 'monkey', 'dragon', 'master', 'abc123', 'trustno1']);
/** Words code and schemas put where a value goes (`password: string`, `token: None`). */
const KEYWORDS = new Set(['true', 'false', 'yes', 'no', 'on', 'off', 'null', 'none', 'nil', 'undefined', 'nan', 'required', 'optional', 'string', 'str', 'text', 'varchar', 'bool', 'boolean', 'number', 'int', 'integer', 'bytes', 'char', 'secretstr', 'object', 'any', 'unknown', 'empty', 'inherit', 'auto', 'env', 'ask', 'prompt', 'stdin', 'keyring', 'file', 'value']);

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isUpper = (c: number): boolean => c >= 65 && c <= 90;
const isLower = (c: number): boolean => c >= 97 && c <= 122;

interface Shape {
  lower: number;
  upper: number;
  digit: number;
  other: number;
  distinct: number;
}

function shapeOf(v: string): Shape {
  const s: Shape = { lower: 0, upper: 0, digit: 0, other: 0, distinct: new Set(v).size };
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (isLower(c)) s.lower++;
    else if (isUpper(c)) s.upper++;
    else if (isDigit(c)) s.digit++;
    else s.other++;
  }
  return s;
}

/** `getToken()`, `a?.b`, `x[k]`, `!ok`: code, not a value (for unquoted values). */
const CODE_CHARS = /[()[\]{}]|\?\.|\?\?|=>|^[!*&]/;
/** `config.password`, `userPassword`: a name, unless it looks generated (`s.Xk9…`, a Vault token). */
const NAME = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$|^[A-Za-z_$][A-Za-z_$]*$/;
const PATH = /^(?:~|\.{1,2})?\/[\w.@-]+(?:\/[\w.@-]*)*$|^[A-Za-z]:\\|\.(?:pem|key|crt|cer|p12|pfx|json|ya?ml|txt|env|ini|toml|conf|cfg|jks|keystore|gpg|asc|der)$/i;
const EMAIL = /^[\w.+-]+@[\w-]+(?:\.[\w-]+)+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** UUIDs documentation uses (RFC 4122's, Wikipedia's, the nil UUID). */
const EXAMPLE_UUIDS = new Set(['123e4567-e89b-12d3-a456-426614174000', '123e4567-e89b-12d3-a456-426655440000', '550e8400-e29b-41d4-a716-446655440000', '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6']);

/** A run of one char, an ascending run, or a short pattern repeated: typed by a person, not generated. */
function patterned(v: string): boolean {
  if (/(.)\1{4,}/.test(v)) return true;
  if (/0123456|1234567|abcdefg|qwerty|asdfgh/i.test(v)) return true;
  // The value is one short unit repeated (abcabcabc, 12341234).
  for (let unit = 1; unit <= 4 && unit * 3 <= v.length; unit++) {
    if (v.slice(0, unit).repeat(Math.ceil(v.length / unit)).slice(0, v.length) === v) return true;
  }
  return false;
}

/** Long enough for its kind and not a blob. */
export const plausibleLength = (v: string, kind: SecretKind): boolean => v.length >= (kind === 'password' ? MIN_PASSWORD : MIN_TOKEN) && v.length <= MAX_VALUE;

/** An unquoted value that is code: a call, an index, `a?.b`, or a name (`config.password`, `userPassword`) that does not look generated. */
export const looksLikeCode = (v: string): boolean => CODE_CHARS.test(v) || (NAME.test(v) && !randomLooking(v));

/**
 * Why `v` is not a credential, or undefined when it may be one. `quoted`: the
 * value was a string literal (an unquoted value in code is an expression).
 */
export function notSecret(v: string, kind: SecretKind, quoted: boolean): string | undefined {
  if (v.length < (kind === 'password' ? MIN_PASSWORD : MIN_TOKEN)) return 'too short';
  if (v.length > MAX_VALUE) return 'too long';
  if (/\s/.test(v)) return 'has spaces';
  if (REFERENCE.test(v)) return 'a reference';
  if (HASH_OR_CIPHER.test(v)) return 'a hash, public key or ciphertext';
  if (v.includes('://')) return 'a URL';
  if (PATH.test(v)) return 'a path';
  if (EMAIL.test(v)) return 'an email address';
  const lower = v.toLowerCase();
  if (KEYWORDS.has(lower) || WEAK.has(lower)) return 'a word';
  if (UUID.test(v)) return EXAMPLE_UUIDS.has(lower) ? 'an example UUID' : undefined;
  if (PLACEHOLDER_WORD.test(v)) return 'a placeholder';
  if (!quoted && looksLikeCode(v)) return 'code';
  if (patterned(v)) return 'patterned';
  const s = shapeOf(v);
  if (s.distinct < 6) return 'too little variety';
  if (s.digit === v.length) return 'a number';
  if (/^\d+(?:[.:-]\d+)+$/.test(v)) return 'a version, date or time';
  const classes = (s.lower > 0 ? 1 : 0) + (s.upper > 0 ? 1 : 0) + (s.digit > 0 ? 1 : 0) + (s.other > 0 ? 1 : 0);
  if (kind === 'password') {
    // A person's password mixes kinds of chars; a word (with a dash or a capital) does not.
    if (classes < 2) return 'one kind of char';
    // Letters alone, or words joined by separators, read as a name unless clearly generated.
    if (/^[A-Za-z._-]+$/.test(v) && !randomLooking(v)) return 'words';
    return undefined;
  }
  // A machine-made secret: long enough and random-looking.
  if (v.length < 16 && classes < 3) return 'short and plain';
  if (wordy(v)) return 'words';
  if (s.digit === 0 && !randomLooking(v)) return 'letters only';
  const h = shannon(v);
  if (h < Math.min(3.0, Math.log2(v.length) - 0.7)) return 'low entropy';
  return undefined;
}

/**
 * The 220 letter pairs that make up 98 % of the pairs inside the words of
 * identifiers (counted in typescript.js, camelCase split): names are made of
 * words, and about a third of a generated string's pairs are among these.
 */
const COMMON_PAIRS: readonly string[] = (
  'abacadagaialamanaparasatauavaxaybabebibjblbobrbucacccechcickclcocrcsctcudadedidodueaecedefelemenepeqeresetevewexeyfafefiflfofrfugegngsgtguhahehihoiaibicidieifigiliminioipirisitivizjejskekikslaldlelilllolsltlulvlymambmemimmmompmunancndnenfngninknlnmnnnonsntnuobocodofoiokolomonoooporosotouowpapepiplpoppprptpuqurarcrdrergrirmrnrorrrsrtrurysascseshsisospssstsusxsytatctethtitotrtstttutyuaucudueuguiulumunupurusutvavevivowawhwiwoxpxtymynypywze'.match(/../g) ?? []
);

const PAIR_TABLE = (() => {
  const t = new Uint8Array(26 * 26);
  for (const p of COMMON_PAIRS) t[(p.charCodeAt(0) - 97) * 26 + p.charCodeAt(1) - 97] = 1;
  return t;
})();

/**
 * The share of letter pairs inside words (split at non-letters and where a
 * capital follows a lowercase letter) that are common in names; NaN under 4 pairs.
 */
export function wordPairShare(v: string): number {
  let pairs = 0;
  let common = 0;
  let prev = -1;
  let prevLower = false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    const upper = c >= 65 && c <= 90;
    if (!upper && !(c >= 97 && c <= 122)) {
      prev = -1;
      continue;
    }
    const l = (c | 32) - 97;
    if (prev >= 0 && !(upper && prevLower)) {
      pairs++;
      common += PAIR_TABLE[prev * 26 + l]!;
    }
    prev = l;
    prevLower = !upper;
  }
  return pairs < 4 ? NaN : common / pairs;
}

/** Generated rather than named: its letters do not read as words, or too few letters go together to tell and digits are mixed in. */
export function randomLooking(v: string): boolean {
  if (v.length < 8) return false;
  const share = wordPairShare(v);
  if (Number.isNaN(share)) return (v.match(/\d/g) ?? []).length >= 2 || v.length >= 12;
  return share < 0.7;
}

/** The letters read as words. */
function wordShare(v: string): number {
  const share = wordPairShare(v);
  return Number.isNaN(share) ? 0 : share;
}

/** Dictionary-looking words joined by separators, case or a few digits (`bad_token`, `notARealOne`, `my-service-2024`). */
function wordy(v: string): boolean {
  const letters = v.replace(/[^A-Za-z]/g, '');
  return letters.length >= v.replace(/[^A-Za-z0-9]/g, '').length * 0.6 && wordShare(v) >= 0.8;
}
