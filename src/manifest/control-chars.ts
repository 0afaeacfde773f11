/**
 * Control characters (C0, DEL, C1) in untrusted text. A NUL splits bwrap's
 * NUL-separated `--args` into extra sandbox options and cannot be passed in
 * argv or the environment at all; ESC and CR rewrite what the operator sees
 * on the terminal. Tab and newline mean something in prompts and Markdown
 * bodies, so multi-line text keeps them; everything that becomes a name, a
 * host, a path, an env entry or a single argument allows none.
 */
export type TextKind = 'line' | 'text';

const NAMES: Record<number, string> = { 0: 'NUL', 9: 'tab', 10: 'newline', 13: 'carriage return', 27: 'escape', 127: 'DEL' };

/** C0, DEL and C1 (the same set supervise refuses in agent-written text). */
export function isControl(code: number): boolean {
  return code < 0x20 || (code >= 0x7f && code <= 0x9f);
}

function allowedIn(kind: TextKind, code: number): boolean {
  return kind === 'text' && (code === 0x09 || code === 0x0a);
}

/** Index of the first control character `kind` does not allow, or -1. */
export function firstControl(value: string, kind: TextKind): number {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (isControl(code) && !allowedIn(kind, code)) return i;
  }
  return -1;
}

export function describeControl(code: number): string {
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  const name = NAMES[code];
  return name ? `${name} (${hex})` : hex;
}

/** Why `value` may not be used as `kind`, or undefined. Names the character and its position, never the value. */
export function controlProblem(value: string, kind: TextKind): string | undefined {
  const at = firstControl(value, kind);
  if (at < 0) return undefined;
  const rule = kind === 'text' ? 'only tab and newline are allowed' : 'control characters (tab, newline, NUL, escape, ...) are not allowed here';
  return `contains the control character ${describeControl(value.charCodeAt(at))} at character ${at + 1}: ${rule}`;
}
