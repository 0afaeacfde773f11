import { dirname } from 'node:path';
import { type EgressRoutePlan, type RouteMatch } from '../../routes/model.js';
import { FileRoutesStore } from '../../state/store/file-routes.js';
import type { RoutesGeneration } from '../../state/store/types.js';
import { compileRouteMatcher } from '../../routes/regex.js';

/** A route with its regexes compiled once per load, not per request. */
export interface CompiledRoute {
  plan: EgressRoutePlan;
  matches: CompiledMatch[];
}

interface CompiledMatch {
  paths: ((path: string) => boolean)[];
  methods: Set<string>;
  headers: { name: string; test: (v: string) => boolean }[];
}

export interface RouteTable {
  routes: readonly CompiledRoute[];
  /** Exact host → route; wildcard routes are searched by suffix. */
  exact: ReadonlyMap<string, CompiledRoute>;
  wildcards: readonly { suffix: string; route: CompiledRoute }[];
  hosts: readonly string[];
}

/** A route table and the generation of the live table it was built from. */
export interface LoadedRoutes {
  table: RouteTable;
  generation: RoutesGeneration;
}

/**
 * Reads, validates and compiles the live table. Throws with field-named
 * messages; a table that was read but refused carries its generation
 * (`digestOfFailedRead`), so the refusal can be acknowledged for it.
 */
export function loadRoutes(store: FileRoutesStore): LoadedRoutes {
  const live = store.readLiveNow();
  if (!live) throw new Error('routes file: cannot read it: ENOENT (fix the routes plan)');
  try {
    return { table: buildRouteTable(live.routes), generation: live.generation };
  } catch (err) {
    throw Object.assign(err as Error, { digest: live.generation });
  }
}

/** Reads and compiles a routes file (tests, tools). */
export function loadRouteTable(file: string): RouteTable {
  return loadRoutes(new FileRoutesStore(dirname(file), file)).table;
}

export function buildRouteTable(plans: readonly EgressRoutePlan[]): RouteTable {
  const exact = new Map<string, CompiledRoute>();
  const wildcards: { suffix: string; route: CompiledRoute }[] = [];
  const routes: CompiledRoute[] = [];
  for (const [i, plan] of plans.entries()) {
    const host = plan.host.toLowerCase();
    const route: CompiledRoute = { plan, matches: plan.matches.map((m, j) => compileMatch(m, `[${i}].matches[${j}]`)) };
    routes.push(route);
    if (host.startsWith('*.')) {
      wildcards.push({ suffix: host.slice(1), route });
    } else if (!exact.has(host)) {
      // First route for a host wins: the plan orders manifest before approved routes.
      exact.set(host, route);
    }
  }
  // Longest suffix first so `*.api.example.com` beats `*.example.com`.
  wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
  return { routes, exact, wildcards, hosts: plans.map((p) => p.host.toLowerCase()) };
}

export function findRoute(table: RouteTable, host: string): CompiledRoute | undefined {
  const h = host.toLowerCase();
  const hit = table.exact.get(h);
  if (hit) return hit;
  // `*.domain` matches any subdomain depth but not the apex.
  return table.wildcards.find((w) => h.endsWith(w.suffix) && h.length > w.suffix.length)?.route;
}

/** Gateway API semantics: no matches = allow all; otherwise any one match must fully match. */
export function routeAllows(
  route: CompiledRoute,
  method: string,
  path: string,
  headers: Readonly<Record<string, string | string[] | undefined>>,
): boolean {
  if (route.matches.length === 0) return true;
  const pathOnly = path.split('?')[0] ?? path;
  return route.matches.some(
    (m) =>
      (m.methods.size === 0 || m.methods.has(method.toUpperCase())) &&
      (m.paths.length === 0 || m.paths.some((p) => p(pathOnly))) &&
      m.headers.every((h) => {
        const v = headers[h.name];
        const values = v === undefined ? [] : Array.isArray(v) ? v : [v];
        return values.some((x) => h.test(x));
      }),
  );
}

function compileMatch(m: RouteMatch, where: string): CompiledMatch {
  return {
    methods: new Set(m.methods.map((x) => x.toUpperCase())),
    paths: m.paths.map((p) => {
      if (p.type === 'exact') return (path: string) => path === p.value;
      if (p.type === 'prefix') return (path: string) => path.startsWith(p.value);
      const re = compileRegex(p.value, `${where}.paths`);
      return (path: string) => re.test(path);
    }),
    headers: m.headers.map((h) => {
      const name = h.name.toLowerCase();
      if (h.type === 'exact') return { name, test: (v: string) => v === h.value };
      const re = compileRegex(h.value, `${where}.headers`);
      return { name, test: (v: string) => re.test(v) };
    }),
  };
}

function compileRegex(source: string, where: string): { test(value: string): boolean } {
  try {
    // Anchored and linear-time (plan/route-regex.ts): the routes file is rewritten at run time, so it is checked again here.
    return compileRouteMatcher(source);
  } catch (err) {
    throw new Error(`routes file ${where}: regex ${JSON.stringify(source)}: ${(err as Error).message}`, { cause: err });
  }
}

/** The route table as `_egress.local/allowlist` shows it: no token values (only slot names and refs). */
export function describeRoutes(table: RouteTable): unknown[] {
  return table.routes.map(({ plan }) => ({
    host: plan.host,
    port: plan.port,
    ...(plan.auth ? { auth: { ...(plan.auth.scheme ? { scheme: plan.auth.scheme } : {}), ...(plan.auth.header ? { header: plan.auth.header } : {}), tokenRef: plan.auth.tokenRef } } : {}),
    matches: plan.matches,
    dlp: plan.dlp,
    gitFetch: plan.gitFetch,
    source: plan.source,
  }));
}
