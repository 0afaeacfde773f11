import type { Proposal } from './queue.js';

/** One line per proposal: the part an operator decides on. */
export function summary(p: Proposal): string {
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
