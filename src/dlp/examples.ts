// Values that have a credential's shape but are published examples, test-mode
// keys or placeholders: documentation and tests are full of them, and an agent
// that reads docs carries them into its conversation. One shared list, so every
// consumer (egress today) decides the same way. Each test looks at the matched
// value only, and none can be met by appending to a real secret: the AWS and
// Stripe forms fix the part a real key would need, a sample JWT must verify
// with a published secret, and a placeholder has too little variety to hide one.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Published AWS documentation keys (their own EXAMPLE suffix aside, listed for clarity). */
const AWS_DOC_KEYS = new Set(['AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'AKIAI44QH8DHBEXAMPLE', 'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY']);

/** The HMAC secrets jwt.io's debugger signs its sample tokens with: anyone can mint such a token. */
const JWT_SAMPLE_SECRETS = ['your-256-bit-secret', 'a-string-secret-at-least-256-bits-long'];

/** Words placeholders are made of (`your_api_key_here`, `<insert-token>`). */
const PLACEHOLDER_WORDS = /your|insert|replace|paste|example|sample|dummy|fake|placeholder|changeme|redacted|secret|token|api|key|here|goes|value|access|my|the|put|test/gi;

/**
 * Why `value`, matched by token rule `rule`, is not a live credential, or
 * undefined when it may be one. Only for pattern findings: a value the sidecar
 * knows as a secret (known_secrets) is never excused.
 */
export function exampleCredential(rule: string, value: string): string | undefined {
  const v = unescapeJson(value);
  if (AWS_DOC_KEYS.has(v)) return 'AWS documentation example key';
  if (rule === 'aws-access-key-id' && v.endsWith('EXAMPLE')) return 'AWS documentation example key (EXAMPLE suffix)';
  if (rule === 'aws-secret-access-key' && v.endsWith('EXAMPLEKEY')) return 'AWS documentation example secret (EXAMPLEKEY suffix)';
  if (rule === 'stripe-key' && /^[sr]k_test_/.test(v)) return 'Stripe test-mode key';
  if (rule === 'jwt' && jwtSample(v)) return 'sample JWT signed with a published jwt.io secret';
  const why = placeholder(v);
  if (why) return why;
  return undefined;
}

function jwtSample(token: string): boolean {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[2]) return false;
  const sig = Buffer.from(parts[2], 'base64url');
  const signed = `${parts[0]}.${parts[1]}`;
  return JWT_SAMPLE_SECRETS.some((s) => {
    const mac = createHmac('sha256', s).update(signed).digest();
    return mac.length === sig.length && timingSafeEqual(mac, sig);
  });
}

/**
 * `sk_live_xxxxxxxxxxxxxxxx`, `xoxb-0000000000-xxxxxxxx`, `xoxb-your-token-here`:
 * a long run of one char with little else, or nothing but placeholder words
 * around a short prefix. A real secret (random, 20+ chars) fits neither, even
 * with such a run appended.
 */
function placeholder(v: string): string | undefined {
  const alnum = v.replace(/[^A-Za-z0-9]/g, '');
  if (alnum.length === 0) return undefined;
  if (/([A-Za-z0-9*])\1{5,}/.test(v) && new Set(alnum).size <= 10) return 'placeholder (a run of one character)';
  const rest = v.replace(PLACEHOLDER_WORDS, '').replace(/[^A-Za-z0-9]/g, '');
  if (rest.length <= 8 && alnum.length - rest.length >= 8) return 'placeholder (made of placeholder words)';
  return undefined;
}

/** A value inside a JSON string may carry `\/` and `\uXXXX` escapes. */
function unescapeJson(v: string): string {
  if (!v.includes('\\')) return v;
  return v.replace(/\\u([0-9a-fA-F]{4})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))).replace(/\\\//g, '/');
}
