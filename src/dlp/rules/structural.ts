import { validJwt } from '../checksum.js';
import type { TokenRule } from './types.js';

/** Placeholder passwords in example URLs (`user:password@`, `:${PASS}@`) are not leaks. */
function realPassword(url: string): boolean {
  const m = /:\/\/[^:@/\s]*:([^@/\s]*)@/.exec(url);
  const pw = m?.[1] ?? '';
  if (/^(?:\$\{?\w+\}?|<[^>]*>|%[sv]|\{\{[^}]*\}\}|\*+|x+|\.+)$/i.test(pw)) return false;
  return !/^(?:pass(?:word|wd)?|secret|changeme|example|token|user|username)$/i.test(pw);
}

export const structuralRules: TokenRule[] = [
  {
    id: 'private-key',
    anchors: ['BEGIN'],
    quick: (text, at) => text.startsWith('-----', at - 5),
    before: /-----$/,
    re: /-----BEGIN[ A-Z0-9]{0,30}PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=\s:,-]{0,8000}?-----END[ A-Z0-9]{0,30}PRIVATE KEY(?: BLOCK)?-----)?/y,
  },
  { id: 'putty-private-key', anchors: ['PuTTY-User-Key-File-'], re: /PuTTY-User-Key-File-[23]: /y },
  {
    id: 'jwt',
    anchors: ['eyJ'],
    re: /eyJ[A-Za-z0-9_-]{8,4000}={0,2}\.[A-Za-z0-9_-]{2,8000}={0,2}\.[A-Za-z0-9_-]{0,2000}/y,
    minRun: 11,
    validate: validJwt,
  },
  {
    id: 'url-credentials',
    infix: '://',
    // Most URLs carry no userinfo: require `@` before the first `/` or space, by a cheap scan.
    quick: (text, p) => {
      for (let i = p + 3, end = Math.min(text.length, p + 400); i < end; i++) {
        const c = text.charCodeAt(i);
        if (c === 64) return true;
        if (c === 47 || c <= 32 || c === 34 || c === 39) return false;
      }
      return false;
    },
    before: /(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,20}$/,
    re: /[A-Za-z][A-Za-z0-9+.-]{1,20}:\/\/[^\s:@/"'<>`]{1,128}:[^\s@/"'<>`]{3,256}@[A-Za-z0-9.[\]-]{1,253}/y,
    validate: realPassword,
  },
];
