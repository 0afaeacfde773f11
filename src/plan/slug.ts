import { randomBytes } from 'node:crypto';
import { ANSI_COLORS, type AnsiColor } from './types.js';
import { SLUG, SlugError } from '../state/names.js';

export { assertSlug, isSlug, SlugError } from '../state/names.js';

const RESERVED_PREFIX = 'bb-standby-';

export function validateLabel(label: string): string {
  if (Buffer.byteLength(label) > 64) throw new SlugError(`--label is ${Buffer.byteLength(label)} bytes; the limit is 64`);
  // Docker standbys carry names of this form on the same engine (backends/docker/standby.ts).
  if (label.startsWith(RESERVED_PREFIX)) throw new SlugError(`--label "${label}": names starting with "${RESERVED_PREFIX}" are bot-bottle's own`);
  if (!SLUG.test(label)) {
    throw new SlugError(`--label "${label}" is not usable as a bottle name: use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit`);
  }
  return label;
}

/**
 * The slug names the bottle's state folder and every backend resource. A
 * label is used verbatim; otherwise `<agent>-<4 hex>`. A taken name gets a
 * numeric suffix so two bottles never share state.
 */
export function allocateSlug(opts: {
  label?: string | undefined;
  agent: string;
  taken: (slug: string) => boolean;
  random?: () => string;
}): string {
  const random = opts.random ?? (() => randomBytes(2).toString('hex'));
  let base = opts.label !== undefined ? validateLabel(opts.label) : `${sanitize(opts.agent)}-${random()}`;
  if (base.startsWith(RESERVED_PREFIX)) base = `agent-${base}`;
  if (!opts.taken(base)) return base;
  for (let n = 2; n < 1000; n++) {
    const candidate = `${base}-${n}`;
    if (!opts.taken(candidate)) return candidate;
  }
  throw new SlugError(`could not find a free bottle name starting with "${base}"`);
}

function sanitize(agent: string): string {
  const cleaned = agent.toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').replace(/^[^a-z0-9]+/, '');
  return (cleaned.length > 0 ? cleaned : 'agent').slice(0, 58);
}

export function parseColor(value: string): AnsiColor {
  const found = ANSI_COLORS.find((c) => c === value.toLowerCase());
  if (!found) throw new SlugError(`--color "${value}" is not one of: ${ANSI_COLORS.join(', ')}`);
  return found;
}

/** A stable colour per slug so the same bottle looks the same everywhere. */
export function defaultColor(slug: string): AnsiColor {
  let hash = 0;
  for (const ch of slug) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return ANSI_COLORS[hash % 6] ?? 'cyan';
}
