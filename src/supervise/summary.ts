import type { Proposal } from './queue.js';

// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * Proposal text comes from agents and sidecars: render control characters as
 * visible escapes so nothing can drive the operator's terminal.
 */
export function printable(text: string, { keepNewlines = false } = {}): string {
  return text.replace(CONTROLS, (c) => (c === '\n' ? (keepNewlines ? c : ' ') : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/** One line per proposal: the part an operator decides on. */
export function summary(p: Proposal): string {
  return printable(rawSummary(p));
}

function rawSummary(p: Proposal): string {
  const d = p.details;
  const str = (k: string): string => (typeof d[k] === 'string' ? d[k] : '');
  switch (p.kind) {
    case 'egress-block':
      return `${str('host')}${Array.isArray(d.methods) ? ` ${d.methods.join(',')}` : ''}${Array.isArray(d.paths) ? ` ${d.paths.join(',')}` : ''}: ${str('reason')}`;
    case 'capability-block':
      return `${str('change')}: ${str('reason')}`;
    case 'egress-token-allow': {
      const findings = tokenFindings(p);
      const first = findings[0];
      const more = findings.length > 1 ? ` (+${findings.length - 1} more)` : '';
      const head = `${str('method')} ${str('host')}${str('path')}`;
      if (!first) return head;
      const owner = first.belongs_to?.length ? ` of ${first.belongs_to.join(', ')}` : '';
      return `${head}: ${first.detector}/${first.rule}${owner} in ${first.where}${more}: ${first.context}`;
    }
    default: {
      const text = Object.entries(d)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      return text.length > 100 ? `${text.slice(0, 99)}…` : text;
    }
  }
}

/** One flagged value of an egress-token-allow proposal, as egress describes it (held-value.ts, dlp-policy.ts). */
export interface TokenFinding {
  detector: string;
  rule: string;
  where: string;
  length?: number;
  encoding?: string;
  belongs_to?: string[];
  context: string;
}

/** The findings of an egress-token-allow proposal; fields of the wrong type read as empty (the file is not trusted). */
export function tokenFindings(p: Proposal): TokenFinding[] {
  const list = p.details.findings;
  if (!Array.isArray(list)) return [];
  const text = (v: unknown): string => (typeof v === 'string' ? v : '');
  return list.map((raw: unknown) => {
    const f = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    return {
      detector: text(f.detector),
      rule: text(f.rule),
      where: text(f.where) || '?',
      ...(typeof f.length === 'number' ? { length: f.length } : {}),
      ...(typeof f.encoding === 'string' ? { encoding: f.encoding } : {}),
      ...(Array.isArray(f.belongs_to) ? { belongs_to: f.belongs_to.filter((x): x is string => typeof x === 'string') } : {}),
      context: text(f.context),
    };
  });
}
