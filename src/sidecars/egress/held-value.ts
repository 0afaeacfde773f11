import type { Finding } from '../../dlp/index.js';
import { secretForms } from '../../dlp/known.js';
import type { EgressRoutePlan } from '../../routes/model.js';

/**
 * One flagged value of a held request, with what the operator needs to judge
 * it, and never the value itself: `raw` stays in this process (the approved
 * set); the proposal gets `detail()`.
 */
export interface HeldValue {
  finding: Finding;
  /** The matched text as sent; undefined when part of it was already forwarded. */
  raw: string | undefined;
  /** `host`, `path`, `header:<name>` or `body`. */
  where: string;
  /** The text around the value, every finding in it replaced by a label; control chars as spaces. */
  context: string;
}

/** Chars of context shown on each side of a value. */
export const CONTEXT_CHARS = 48;

/**
 * A HeldValue for `f`, found in `text` (one char per byte, as egress scans what
 * the agent sends, unless `decoded`: text already read as UTF-8, as WebSocket
 * messages are) at offsets relative to `base`: `text` starts at offset `base`
 * of the scanned part. `all` are every finding of that part, so other values
 * inside the context are masked too.
 */
export function heldValue(f: Finding, text: string, where: string, all: readonly Finding[], base = 0, decoded = false): HeldValue {
  const s = f.start - base;
  const e = f.end - base;
  const raw = s >= 0 && e <= text.length ? text.slice(s, e) : undefined;
  const from = Math.max(0, s - CONTEXT_CHARS);
  const to = Math.min(text.length, e + CONTEXT_CHARS);
  return { finding: f, raw, where, context: maskedContext(text, from, to, base, all, decoded ? (t) => t : utf8) };
}

function maskedContext(text: string, from: number, to: number, base: number, all: readonly Finding[], chars: (t: string) => string): string {
  const spans = all
    .map((x) => ({ s: Math.max(from, x.start - base), e: Math.min(to, x.end - base), x }))
    .filter((m) => m.s < m.e)
    .sort((a, b) => a.s - b.s);
  let out = from > 0 ? '…' : '';
  let at = from;
  for (const m of spans) {
    if (m.e <= at) continue;
    out += chars(text.slice(at, Math.max(at, m.s)));
    out += `⟨${m.x.detector}/${m.x.rule}, ${m.x.end - m.x.start} chars⟩`;
    at = m.e;
  }
  out += chars(text.slice(at, to));
  if (to < text.length) out += '…';
  // eslint-disable-next-line no-control-regex
  return out.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
}

/** Bytes read one per char, back to the text they encode (a split char at an edge becomes U+FFFD). */
function utf8(latin1: string): string {
  return Buffer.from(latin1, 'latin1').toString('utf8');
}

/**
 * Which of the sidecar's known secrets `raw` is (or is part of), as names:
 * `token slot EGRESS_TOKEN_0 (host variable X, injected for api.example.com)`
 * or `host variable AWS_KEY`. Never the value.
 */
export function secretOwners(raw: string, entries: readonly { name: string; value: string }[], routes: readonly EgressRoutePlan[]): string[] {
  const probe = alnum(raw);
  if (probe.length === 0) return [];
  const out: string[] = [];
  for (const { name, value } of entries) {
    const forms = secretForms([value]).map((f) => alnum(f.text));
    if (!forms.some((p) => p.includes(probe) || probe.includes(p))) continue;
    const used = routes.filter((r) => r.auth?.tokenSlot === name);
    if (used.length > 0) {
      const ref = used[0]!.auth!.tokenRef;
      out.push(`token slot ${name} (host variable ${ref}, injected for ${[...new Set(used.map((r) => r.host))].join(', ')})`);
    } else {
      out.push(name.startsWith('EGRESS_TOKEN_') ? `token slot ${name}` : `host variable ${name}`);
    }
  }
  return out;
}

function alnum(s: string): string {
  return s.replace(/[^A-Za-z0-9]/g, '');
}
