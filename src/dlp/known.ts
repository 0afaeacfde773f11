// known_secrets: every ≥ 12-char window of every encoded form of every secret,
// compared on the "alphanumeric projection" (all other chars dropped). The
// projection makes separators, zero-width chars, quotes, `+` concatenation and
// line breaks inserted into a secret invisible, and base64's +/= and url-safe
// -_ variants coincide. The pass (core.ts) gathers the text's ASCII alnum chars
// and, at every seventh one, looks up a hash of the last six in a bitset of
// all 6-char grams of the forms' projections: a 12-char window holds seven
// consecutive 6-char grams, so one of them ends on a probe. A hit costs a
// verify of the windows that gram can belong to.

export const WINDOW = 12;
/** Projected chars hashed per probe, and the probe stride (WINDOW - GRAM + 1). */
export const GRAM = 6;
export const PROBE_STRIDE = WINDOW - GRAM + 1;
const BITS_LOG2 = 20;
const WALK_BACK_LIMIT = WINDOW * 8;
const WALK_FORWARD_LIMIT = PROBE_STRIDE * 8;
/** The pass's multiplier (wasm/pass.ts K). */
const K = 0x9e3779b97f4a7c15n;

/**
 * The two bitset slots of the GRAM chars of `p` ending at `end`: bits 44-63
 * and 24-43 of (the chars as a little-endian u64) × K. A gram is in the set
 * when both bits are: a lone hash collision then costs nothing (rate ~1e-7
 * per probe instead of ~2e-4), which matters because a hit makes the stream
 * build a string to verify it.
 */
export function gramSlots(p: string, end: number): [number, number] {
  let g = 0n;
  for (let k = 0; k < GRAM; k++) g |= BigInt(p.charCodeAt(end - GRAM + k)) << BigInt(8 * k);
  const h = BigInt.asUintN(64, g * K);
  const mask = (1n << BigInt(BITS_LOG2)) - 1n;
  return [Number(h >> BigInt(64 - BITS_LOG2)), Number((h >> BigInt(64 - 2 * BITS_LOG2)) & mask)];
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
      for (let j = GRAM; j <= p.length; j++) {
        for (const s of gramSlots(p, j)) this.bits[s >>> 5] = (this.bits[s >>> 5] ?? 0) | (1 << (s & 31));
      }
      for (let j = WINDOW; j <= p.length; j++) {
        const w = p.slice(j - WINDOW, j);
        if (!this.windows.has(w)) this.windows.set(w, f);
      }
    }
  }

  /**
   * Called on a bitset hit whose gram ends with the alnum char at `end - 1`:
   * confirms the exact 12-char windows that gram can belong to, those ending
   * at that char and at the next PROBE_STRIDE - 1 alnum chars. Returns true when
   * the text ended before those chars did (a stream verifies again once more
   * text has arrived).
   */
  verify(text: string, end: number, out: KnownHit[]): boolean {
    let proj: string;
    let at: number[] | undefined;
    let complete: boolean;
    // Usually there is no separator around: one slice instead of a char-by-char walk.
    if (end >= WINDOW && end + PROBE_STRIDE - 1 <= text.length && allAlnum(text, end - WINDOW, end + PROBE_STRIDE - 1)) {
      proj = text.slice(end - WINDOW, end + PROBE_STRIDE - 1);
      complete = true;
    } else {
      const back: number[] = [];
      for (let i = end - 1, floor = Math.max(0, end - WALK_BACK_LIMIT); i >= floor && back.length < WINDOW; i--) if (isAlnum(text.charCodeAt(i))) back.push(i);
      // Fewer than WINDOW chars before (the text's start): the windows after the gram may still fit.
      at = back.reverse();
      let i = end;
      for (const ceil = Math.min(text.length, end + WALK_FORWARD_LIMIT); i < ceil && at.length < WINDOW + PROBE_STRIDE - 1; i++) if (isAlnum(text.charCodeAt(i))) at.push(i);
      complete = at.length === WINDOW + PROBE_STRIDE - 1 || i < text.length;
      proj = at.map((p) => text[p]).join('');
    }
    for (let j = 0; j + WINDOW <= proj.length; j++) {
      const f = this.windows.get(proj.slice(j, j + WINDOW));
      if (!f) continue;
      const start = at ? at[j]! : end - WINDOW + j;
      const stop = at ? at[j + WINDOW - 1]! + 1 : end + j;
      const last = out[out.length - 1];
      // Consecutive windows of one secret form one finding.
      if (last && last.secret === f.secret && start <= last.end) last.end = Math.max(last.end, stop);
      else out.push({ secret: f.secret, form: f.form, start, end: stop });
    }
    return !complete;
  }

  findWhole(text: string, out: KnownHit[], from = 0, to = text.length): void {
    for (const f of this.whole) {
      for (let p = text.indexOf(f.text, from); p !== -1 && p < to; p = text.indexOf(f.text, p + 1)) {
        out.push({ secret: f.secret, form: f.form, start: p, end: p + f.text.length });
      }
    }
  }
}
