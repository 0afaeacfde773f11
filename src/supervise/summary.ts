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
    default: {
      const text = Object.entries(d)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      return text.length > 100 ? `${text.slice(0, 99)}…` : text;
    }
  }
}
