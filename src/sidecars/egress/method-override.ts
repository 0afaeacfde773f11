import type { IncomingHttpHeaders } from 'node:http';
import { routeAllows, type CompiledRoute } from './routes.js';

/**
 * Headers (and the query parameter) with which Express's method-override,
 * Rack, Symfony, Laravel, Google APIs and others let a POST act as another
 * method. A route that allows only GET would otherwise carry a "GET" that the
 * upstream runs as a DELETE, with the route's token.
 */
const OVERRIDE_HEADERS = ['x-http-method-override', 'x-http-method', 'x-method-override'] as const;
const OVERRIDE_PARAM = /[?&]_method=([^&]*)/gi;

/**
 * On a route with method rules: why the request is refused when a method
 * override names a method the route does not allow for this path, else
 * undefined. Refused rather than stripped: stripping would quietly turn the
 * agent's DELETE into the POST it was wrapped in, which the upstream then
 * performs instead; a refusal says what happened.
 */
export function overrideRefusal(route: CompiledRoute, path: string, headers: IncomingHttpHeaders): string | undefined {
  if (!route.matches.some((m) => m.methods.size > 0)) return undefined;
  const named: { source: string; method: string }[] = [];
  for (const h of OVERRIDE_HEADERS) {
    const v = headers[h];
    if (v === undefined) continue;
    for (const part of (Array.isArray(v) ? v.join(',') : v).split(',')) named.push({ source: `header ${h}`, method: part.trim() });
  }
  const q = path.indexOf('?');
  if (q !== -1 && path.includes('_method=', q)) {
    for (const m of path.slice(q).matchAll(OVERRIDE_PARAM)) named.push({ source: 'query parameter _method', method: safeDecode(m[1]!).trim() });
  }
  for (const { source, method } of named) {
    if (!/^[A-Za-z]{1,20}$/.test(method)) return `${source} does not name a method; routes with method rules refuse method overrides they cannot read`;
    if (!routeAllows(route, method, path, headers)) {
      return `${source} asks for ${method.toUpperCase()}, which this route's matches do not allow for ${path.split('?')[0]}`;
    }
  }
  return undefined;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
