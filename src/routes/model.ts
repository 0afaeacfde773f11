import * as z from 'zod/mini';

/**
 * The one route model. A route is written by three hands (a manifest, an
 * agent provider, an operator approving an `egress-block` through supervise)
 * and read by the plan, egress, supervise and the console; all of them use
 * this schema and `completeRoute`, the one place route defaults are filled.
 *
 * The egress route as the plan and the sidecar see it: already validated and
 * defaulted, with the token reduced to a slot name (never a value).
 * This schema is the contract between `resolvePlan` and the egress sidecar,
 * and it validates the sidecar config file at the sidecar's boundary.
 */
export const PathMatchSchema = z.strictObject({
  type: z.enum(['prefix', 'exact', 'regex']),
  value: z.string().check(z.minLength(1)),
});

export const HeaderMatchSchema = z.strictObject({
  name: z.string().check(z.minLength(1)),
  value: z.string(),
  type: z._default(z.enum(['exact', 'regex']), 'exact'),
});

export const RouteMatchSchema = z.strictObject({
  paths: z._default(z.array(PathMatchSchema), []),
  /** Upper-cased; empty = any method. */
  methods: z._default(z.array(z.string()), []),
  /** All listed headers must match (Gateway API semantics within one match). */
  headers: z._default(z.array(HeaderMatchSchema), []),
});

export const OUTBOUND_DETECTORS = ['token_patterns', 'known_secrets', 'entropy'] as const;
export const DEFAULT_OUTBOUND_DETECTORS = ['token_patterns', 'known_secrets'] as const;
export const INBOUND_DETECTORS = ['naive_injection_detection'] as const;
export const ON_MATCH = ['supervise', 'redact', 'block'] as const;

export const INBOUND_ON_MATCH = ['terminate', 'report'] as const;

export const RouteDlpSchema = z.strictObject({
  outbound: z.array(z.enum(OUTBOUND_DETECTORS)),
  /** Empty = response scanning off for this route. */
  inbound: z.array(z.enum(INBOUND_DETECTORS)),
  onMatch: z.enum(ON_MATCH),
  /**
   * What a high-confidence inbound finding does: cut the response (`terminate`,
   * the default when absent) or only record it (`report`: a model API's own
   * reply is not untrusted web content, and cutting it breaks the agent's turn).
   */
  inboundOnMatch: z.optional(z.enum(INBOUND_ON_MATCH)),
});

export const EgressRoutePlanSchema = z.strictObject({
  /** Exact host name or `*.domain` (matches any subdomain depth, not the apex). Lower-case. */
  host: z.string().check(z.minLength(1)),
  /** The only port CONNECT / absolute-form requests may target for this host. */
  port: z.int().check(z.minimum(1), z.maximum(65535)),
  auth: z.optional(
    z.strictObject({
      /** `Authorization: <scheme> <token>`; absent with a `header`: the token alone. */
      scheme: z.optional(z.string().check(z.minLength(1))),
      /** Lower-case header the token goes into; absent = authorization. */
      header: z.optional(z.string().check(z.regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/))),
      /** Env var name inside the sidecar holding the token, e.g. EGRESS_TOKEN_0. */
      tokenSlot: z.string().check(z.regex(/^EGRESS_TOKEN_[A-Z0-9_]+$/)),
      /** Host env var the value came from; shown to humans, never the value. */
      tokenRef: z.string(),
    }),
  ),
  /** Empty = every request to the host is allowed. Otherwise one must match. */
  matches: z.array(RouteMatchSchema),
  dlp: RouteDlpSchema,
  gitFetch: z.boolean(),
  source: z.enum(['manifest', 'provider', 'supervise']),
});

export type RouteMatch = z.infer<typeof RouteMatchSchema>;
export type RouteDlp = z.infer<typeof RouteDlpSchema>;
export type EgressRoutePlan = z.infer<typeof EgressRoutePlanSchema>;

export type RouteAuth = NonNullable<EgressRoutePlan['auth']>;

/** The port a route serves when nothing named one. */
export const DEFAULT_ROUTE_PORT = 443;

/** A route with only the keys someone set (a manifest, a provider, an approved `egress-block`). */
export interface RouteSpec {
  host: string;
  port?: number | undefined;
  auth?: RouteAuth | undefined;
  matches?: RouteMatch[] | undefined;
  dlp?: Partial<RouteDlp> | undefined;
  gitFetch?: boolean | undefined;
  source: EgressRoutePlan['source'];
}

/**
 * Fill every key nothing set with its default: port 443, the default outbound
 * detectors, inbound injection scanning, `supervise` on a match, no git fetch,
 * no match list (= every request). The only place route defaults live.
 */
export function completeRoute(spec: RouteSpec): EgressRoutePlan {
  const dlp = spec.dlp ?? {};
  return {
    host: spec.host,
    port: spec.port ?? DEFAULT_ROUTE_PORT,
    ...(spec.auth ? { auth: spec.auth } : {}),
    matches: spec.matches ?? [],
    dlp: {
      outbound: dlp.outbound ?? [...DEFAULT_OUTBOUND_DETECTORS],
      inbound: dlp.inbound ?? [...INBOUND_DETECTORS],
      onMatch: dlp.onMatch ?? 'supervise',
      ...(dlp.inboundOnMatch !== undefined ? { inboundOnMatch: dlp.inboundOnMatch } : {}),
    },
    gitFetch: spec.gitFetch ?? false,
    source: spec.source,
  };
}

/** The header a route's credential is injected into (the agent's own value for it is always dropped). */
export function authHeaderName(auth: Pick<RouteAuth, 'header'>): string {
  return auth.header ?? 'authorization';
}

/** The injected header's value: `<scheme> <token>`, or the token alone when there is no scheme. */
export function authHeaderValue(auth: Pick<RouteAuth, 'scheme'>, token: string): string {
  return auth.scheme ? `${auth.scheme} ${token}` : token;
}

/** How a plan or the allowlist describes the injection, never with a value: `Bearer token`, `x-api-key header`. */
export function describeAuth(auth: Pick<RouteAuth, 'scheme' | 'header'>): string {
  const header = authHeaderName(auth);
  if (header === 'authorization') return `${auth.scheme ?? 'raw'} token`;
  return auth.scheme ? `${auth.scheme} token in ${header}` : `token in ${header}`;
}
