import { validJwt } from '../checksum.js';
import { notSecret } from '../judge.js';
import type { TokenRule } from './types.js';

/** `Basic <base64 of user:password>`: the password must look like one (not `user:password`, not `Aladdin:open sesame`). */
function basicCredentials(b64: string): boolean {
  if (b64.length % 4 === 1) return false;
  const text = Buffer.from(b64, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0 || !/^[\x20-\x7e]+$/.test(text)) return false;
  return notSecret(text.slice(colon + 1), 'password', true) === undefined;
}

/** `Authorization: Bearer|Token <opaque>`: a machine-made value, not a placeholder or a reference. */
function bearerCredential(token: string): boolean {
  return token.length >= 16 && notSecret(token, 'token', true) === undefined;
}

/** `Authorization: <scheme> <value>` in a header, a header map, a curl flag, an nginx directive. */
const AUTHORIZATION = '[Aa][Uu][Tt][Hh][Oo][Rr][Ii][Zz][Aa][Tt][Ii][Oo][Nn]["\'`]?\\s{0,4}[:=,]?\\s{0,4}["\'`]?\\s{0,2}';

/** Placeholder passwords in example URLs (`user:password@`, `:${PASS}@`, `postgres:postgres@`) are not leaks. */
function realPassword(url: string): boolean {
  const m = /:\/\/([^:@/\s]*):([^@/\s]*)@/.exec(url);
  const pw = m?.[2] ?? '';
  if (/^(?:\$\{?\w+\}?|<[^>]*>|%[sv]|\{\{[^}]*\}\}|\*+|x+|\.+)$/i.test(pw)) return false;
  if (pw === m?.[1]) return false;
  return notSecret(pw, 'password', true) === undefined;
}

export const structuralRules: TokenRule[] = [
  {
    id: 'private-key',
    anchors: ['BEGIN'],
    quick: (text, at) => text.startsWith('-----', at - 5),
    before: /-----$/,
    // A header alone (parsers compare against it) is not a key: some key material must follow.
    re: /-----BEGIN[ A-Z0-9]{0,30}PRIVATE KEY(?: BLOCK)?-----(?:(?!-----)[\s\S]){0,200}?[A-Za-z0-9+/]{40}(?:[A-Za-z0-9+/=\s\\:,-]{0,8000}?-----END[ A-Z0-9]{0,30}PRIVATE KEY(?: BLOCK)?-----)?/y,
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
    id: 'basic-auth',
    anchors: ['authorization'],
    ignoreCase: true,
    keyword: true,
    re: new RegExp(`${AUTHORIZATION}(?:[Bb]asic|BASIC)\\s{1,4}([A-Za-z0-9+/]{6,400}={0,2})`, 'y'),
    group: 1,
    validate: basicCredentials,
  },
  {
    id: 'bearer-token',
    anchors: ['authorization'],
    ignoreCase: true,
    keyword: true,
    re: new RegExp(`${AUTHORIZATION}(?:[Bb]earer|BEARER|[Tt]oken)\\s{1,4}([A-Za-z0-9+/=._~-]{16,4000})`, 'y'),
    group: 1,
    validate: bearerCredential,
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
