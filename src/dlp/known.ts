// known_secrets: every ≥ 12-char window of every encoded form of every secret,
// compared on the "alphanumeric projection" (all other chars dropped). The
// projection makes separators, zero-width chars, quotes, `+` concatenation and
// line breaks inserted into a secret invisible, and base64's +/= and url-safe
// -_ variants coincide. core.ts feeds each ASCII alnum char of the text into a
// gear hash; a bitset lookup rejects almost every position in a few ns.

export const WINDOW = 12;
const BITS_LOG2 = 20;
const WALK_BACK_LIMIT = WINDOW * 8;

/** Deterministic per-char gear values; only ASCII alnum codes are used. */
export const GEAR = (() => {
  const g = new Int32Array(128);
  let x = 0x2545f491;
  for (let i = 0; i < 128; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    g[i] = x;
  }
  return g;
})();

/**
 * Bitset slot of a gear hash: its top bits, which every one of the last 11
 * alnum chars reaches (char k back is shifted left by 3k; low bits only see
 * the newest chars).
 */
export const SLOT_SHIFT = 32 - BITS_LOG2;
export function slot(h: number): number {
  return h >>> SLOT_SHIFT;
}

export function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function allAlnum(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isAlnum(text.charCodeAt(i))) return false;
  return true;
}

function project(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) if (isAlnum(s.charCodeAt(i))) out += s[i];
  return out;
}

export interface SecretForm {
  secret: number;
  form: 'raw' | 'base64' | 'hex' | 'url';
  text: string;
}

export interface KnownHit {
  secret: number;
  form: SecretForm['form'];
  start: number;
  end: number;
}

/** base64 chars of `secret` that do not depend on neighbouring bytes when it sits at byte offset k (mod 3) in a larger blob. */
function base64Inner(secret: Buffer, k: number): string {
  const enc = Buffer.concat([Buffer.alloc(k), secret]).toString('base64');
  const totalBits = 8 * (k + secret.length);
  let out = '';
  for (let j = 0; j < enc.length; j++) if (6 * j >= 8 * k && 6 * j + 6 <= totalBits) out += enc[j];
  return out;
}

export function secretForms(secrets: readonly string[]): SecretForm[] {
  const forms: SecretForm[] = [];
  secrets.forEach((value, secret) => {
    const bytes = Buffer.from(value, 'utf8');
    const hex = bytes.toString('hex');
    const add = (form: SecretForm['form'], text: string): void => {
      if (text !== '' && !forms.some((f) => f.secret === secret && f.text === text)) forms.push({ secret, form, text });
    };
    add('raw', value);
    add('url', encodeURIComponent(value));
    add('hex', hex);
    add('hex', hex.toUpperCase());
    for (let k = 0; k < 3; k++) add('base64', base64Inner(bytes, k));
  });
  return forms;
}

export class KnownSecretIndex {
  readonly bits = new Int32Array(1 << (BITS_LOG2 - 5));
  private readonly windows = new Map<string, SecretForm>();
  /** Forms too short (after projection) for the window index: found whole, by indexOf. */
  readonly whole: SecretForm[] = [];
  readonly forms: SecretForm[];

  constructor(readonly secrets: readonly string[]) {
    this.forms = secretForms(secrets);
    for (const f of this.forms) {
      const p = project(f.text);
      if (p.length < WINDOW) {
        if (f.form !== 'base64' || f.text.length >= 8) this.whole.push(f);
        continue;
      }
      let h = 0;
      for (let j = 0; j < p.length; j++) {
        h = ((h << 3) ^ (GEAR[p.charCodeAt(j)] ?? 0)) | 0;
        if (j >= WINDOW - 1) {
          const s = slot(h);
          this.bits[s >>> 5] = (this.bits[s >>> 5] ?? 0) | (1 << (s & 31));
          const w = p.slice(j - WINDOW + 1, j + 1);
          if (!this.windows.has(w)) this.windows.set(w, f);
        }
      }
    }
  }

  /** Called on a bitset hit at alnum char `end - 1`: confirm with the exact last 12 alnum chars. */
  verify(text: string, end: number, out: KnownHit[]): void {
    let w: string;
    let i: number;
    // Usually the window has no separators in it: one slice instead of a char-by-char walk.
    if (end >= WINDOW && allAlnum(text, end - WINDOW, end)) {
      w = text.slice(end - WINDOW, end);
      i = end - WINDOW - 1;
    } else {
      w = '';
      i = end - 1;
      const floor = Math.max(0, end - WALK_BACK_LIMIT);
      for (; i >= floor && w.length < WINDOW; i--) {
        const c = text.charCodeAt(i);
        if (isAlnum(c)) w = text[i] + w;
      }
      if (w.length < WINDOW) return;
    }
    const f = this.windows.get(w);
    if (!f) return;
    const start = i + 1;
    const last = out[out.length - 1];
    // Consecutive windows of one secret form one finding.
    if (last && last.secret === f.secret && start <= last.end) last.end = Math.max(last.end, end);
    else out.push({ secret: f.secret, form: f.form, start, end });
  }

  findWhole(text: string, out: KnownHit[], from = 0, to = text.length): void {
    for (const f of this.whole) {
      for (let p = text.indexOf(f.text, from); p !== -1 && p < to; p = text.indexOf(f.text, p + 1)) {
        out.push({ secret: f.secret, form: f.form, start: p, end: p + f.text.length });
      }
    }
  }
}
