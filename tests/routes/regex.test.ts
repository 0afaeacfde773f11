import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManifestError } from '../../src/manifest/errors.js';
import { parseBottle } from '../../src/manifest/load.js';
import type { EgressRoutePlan } from '../../src/routes/model.js';
import { compileRouteRegex, routeRegexProblem } from '../../src/routes/regex.js';
import { buildRouteTable, findRoute, loadRouteTable, routeAllows } from '../../src/sidecars/egress/routes.js';
import { tempHome, type TempHome } from '../support/home.js';

let h: TempHome;
afterEach(() => h.cleanup());

function bottleError(frontmatter: string): ManifestError {
  h = tempHome();
  try {
    parseBottle(h.writeBottle('b', frontmatter));
  } catch (err) {
    if (err instanceof ManifestError) return err;
    throw err;
  }
  throw new Error('expected a ManifestError');
}

const pathRoute = (value: string) => `egress:\n  routes:\n    - host: api.example.com\n      matches:\n        - paths: [{type: regex, value: "${value}"}]`;

function plan(paths: EgressRoutePlan['matches'][number]['paths'], headers: EgressRoutePlan['matches'][number]['headers'] = []): EgressRoutePlan {
  return {
    host: 'api.example.com',
    port: 443,
    matches: [{ paths, methods: [], headers }],
    dlp: { outbound: ['token_patterns'], inbound: [], onMatch: 'block' },
    gitFetch: false,
    source: 'manifest',
  };
}

describe('route regexes are compiled when the manifest is read', () => {
  it('refuses an invalid regex with file, line and key', () => {
    const err = bottleError(pathRoute('(('));
    expect(err.location).toMatchObject({ line: 6, key: 'egress.routes[0].matches[0].paths[0].value' });
    expect(err.message).toContain('invalid regex: Unterminated group');
  });

  it('refuses what cannot run in linear time (backreferences, lookarounds, huge repetitions) and over-long patterns', () => {
    for (const value of ['(a)\\\\1', '(?=/admin)/.*', '(?<!x)y', 'a{5000}']) {
      expect(bottleError(pathRoute(value)).message, value).toContain('cannot be matched in linear time');
    }
    expect(bottleError(pathRoute('a'.repeat(257))).message).toContain('the limit is 256');
  });

  it('checks header regexes too, and header names are HTTP tokens', () => {
    const header = bottleError('egress:\n  routes:\n    - host: a.example\n      matches:\n        - headers: [{name: X-V, type: regex, value: "(x"}]');
    expect(header.location.key).toBe('egress.routes[0].matches[0].headers[0].value');
    const name = bottleError('egress:\n  routes:\n    - host: a.example\n      matches:\n        - headers: [{name: "X-A: b", value: v}]');
    expect(name.message).toContain('header names are HTTP tokens');
  });

  it('accepts a catastrophic-looking pattern because it runs on the linear-time engine', () => {
    h = tempHome();
    const bottle = parseBottle(h.writeBottle('b', pathRoute('/(a+)+$')));
    expect(bottle.frontmatter.egress?.routes?.[0]?.matches?.[0]?.paths?.[0]?.value).toBe('/(a+)+$');
    const re = compileRouteRegex('/(a+)+$');
    expect(re.flags).toContain('l');
    expect(re.test('/aaa')).toBe(true);
    // Exponential for a backtracking engine (2^40 paths); one pass for the automaton.
    expect(re.test(`/${'a'.repeat(40)}!`)).toBe(false);
    expect(routeRegexProblem('/api/v[0-9]+/users/[^/]+')).toBeUndefined();
  });
});

describe('egress refuses a bad regex when it loads a routes file (defence in depth)', () => {
  it('fails on an invalid or non-linear regex in a path or header match', () => {
    h = tempHome();
    expect(() => buildRouteTable([plan([{ type: 'regex', value: '((' }])])).toThrow(/\[0\]\.matches\[0\]\.paths: regex "\(\(": invalid regex/);
    expect(() => buildRouteTable([plan([], [{ name: 'x-a', type: 'regex', value: '(a)\\1' }])])).toThrow(/linear time/);
    const file = join(h.root, 'routes.json');
    writeFileSync(file, JSON.stringify([plan([{ type: 'regex', value: '(?=x)x' }])]));
    expect(() => loadRouteTable(file)).toThrow(/linear time/);
  });

  it('matches anchored paths on the linear engine', () => {
    h = tempHome();
    const table = buildRouteTable([plan([{ type: 'regex', value: '/v[0-9]+/(a+)+' }])]);
    const route = findRoute(table, 'api.example.com');
    expect(route && routeAllows(route, 'GET', '/v1/aaa?q=1', {})).toBe(true);
    expect(route && routeAllows(route, 'GET', '/v1/aaa/x', {})).toBe(false);
    expect(route && routeAllows(route, 'GET', `/v1/${'a'.repeat(40)}!`, {})).toBe(false);
    // Regex matches see at most 4 KiB: a longer path matches no regex rule.
    expect(route && routeAllows(route, 'GET', `/v1/${'a'.repeat(4000)}`, {})).toBe(true);
    expect(route && routeAllows(route, 'GET', `/v1/${'a'.repeat(4100)}`, {})).toBe(false);
  });
});

describe('one route per host', () => {
  it('refuses a second route for the same host (case-insensitive, whatever the port), naming both', () => {
    const same = bottleError('egress:\n  routes:\n    - host: api.example.com\n    - host: other.example\n    - host: API.example.com\n      port: 8443');
    expect(same.location).toMatchObject({ line: 6, key: 'egress.routes[2].host' });
    expect(same.message).toContain('a second route for api.example.com (the first is egress.routes[0])');
    expect(same.message).toContain('merge their `matches`');
  });

  it('allows a wildcard beside an exact host under it', () => {
    h = tempHome();
    const bottle = parseBottle(h.writeBottle('b', 'egress:\n  routes:\n    - host: "*.example.com"\n    - host: api.example.com'));
    expect(bottle.frontmatter.egress?.routes).toHaveLength(2);
  });
});
