import type { RouteFrontmatter } from '../manifest/schema.js';
import { completeRoute, type EgressRoutePlan, type RouteDlp, type RouteSpec } from '../routes/model.js';
import type { TokenSource } from './types.js';

/**
 * A route before token slots are numbered: manifest and provider routes both
 * become this. Only what was set: defaults are filled in last (completeRoute),
 * so a manifest can tune one key of a provider route.
 */
export interface RouteDraft extends Omit<RouteSpec, 'auth'> {
  auth?: { scheme?: string; header?: string; tokenFrom: TokenSource['from'] };
}

export function draftFromManifest(route: RouteFrontmatter): RouteDraft {
  const dlp = route.dlp;
  const tuned: Partial<RouteDlp> = {};
  if (dlp?.outbound_detectors !== undefined) tuned.outbound = dlp.outbound_detectors;
  if (dlp?.inbound_detectors !== undefined) tuned.inbound = dlp.inbound_detectors === false ? [] : dlp.inbound_detectors;
  if (dlp?.outbound_on_match !== undefined) tuned.onMatch = dlp.outbound_on_match;
  if (dlp?.inbound_on_match !== undefined) tuned.inboundOnMatch = dlp.inbound_on_match;
  return {
    host: route.host,
    ...(route.port !== undefined ? { port: route.port } : {}),
    ...(route.auth ? { auth: { ...(route.auth.scheme ? { scheme: route.auth.scheme } : {}), ...(route.auth.header && route.auth.header !== 'authorization' ? { header: route.auth.header } : {}), tokenFrom: { kind: 'env', name: route.auth.token_ref } } } : {}),
    matches: (route.matches ?? []).map((m) => ({
      paths: m.paths ?? [],
      methods: m.methods ?? [],
      headers: (m.headers ?? []).map((h) => ({ name: h.name.toLowerCase(), value: h.value, type: h.type ?? 'exact' })),
    })),
    dlp: tuned,
    ...(route.git?.fetch !== undefined ? { gitFetch: route.git.fetch } : {}),
    source: 'manifest',
  };
}

/** A manifest route merged into the provider route for the same host. */
export interface MergedRoute {
  host: string;
  /** The manifest's `auth` was set and ignored: the provider injects its own credential. */
  ignoredAuth: boolean;
}

/**
 * A provider route and a manifest route for the same host are one route: the
 * provider keeps its credential (the manifest's `auth` is used only when the
 * provider has none), and the manifest tunes the rest: its DLP keys, its
 * matches (when it lists any, they are the route's matches), port and git.fetch.
 */
export function mergeProviderRoute(provider: RouteDraft, manifest: RouteDraft): RouteDraft {
  const auth = provider.auth ?? manifest.auth;
  const port = manifest.port ?? provider.port;
  const gitFetch = manifest.gitFetch ?? provider.gitFetch;
  return {
    host: provider.host,
    ...(port !== undefined ? { port } : {}),
    ...(auth ? { auth } : {}),
    matches: manifest.matches?.length ? manifest.matches : (provider.matches ?? []),
    dlp: { ...provider.dlp, ...manifest.dlp },
    ...(gitFetch !== undefined ? { gitFetch } : {}),
    source: 'provider',
  };
}

/**
 * Provider routes come first, each merged with the manifest route for the
 * same host (mergeProviderRoute); the other manifest routes follow in order.
 * Each authenticated route gets a numbered EGRESS_TOKEN_* slot; routes that
 * share a token source share a slot.
 */
export function finalizeRoutes(
  manifestRoutes: readonly RouteDraft[],
  providerRoutes: readonly RouteDraft[],
): { routes: EgressRoutePlan[]; tokens: TokenSource[]; merged: MergedRoute[] } {
  const providerHosts = new Set(providerRoutes.map((r) => r.host));
  const merged: MergedRoute[] = [];
  const drafts = [
    ...providerRoutes.map((p) => {
      const m = manifestRoutes.find((r) => r.host === p.host);
      if (!m) return p;
      merged.push({ host: p.host, ignoredAuth: m.auth !== undefined && p.auth !== undefined });
      return mergeProviderRoute(p, m);
    }),
    ...manifestRoutes.filter((r) => !providerHosts.has(r.host)),
  ];
  const tokens: TokenSource[] = [];
  const routes = drafts.map((draft): EgressRoutePlan => {
    let auth: EgressRoutePlan['auth'];
    if (draft.auth) {
      const key = JSON.stringify(draft.auth.tokenFrom);
      let source = tokens.find((t) => JSON.stringify(t.from) === key);
      if (!source) {
        source = { slot: `EGRESS_TOKEN_${tokens.length}`, from: draft.auth.tokenFrom };
        tokens.push(source);
      }
      auth = { ...(draft.auth.scheme ? { scheme: draft.auth.scheme } : {}), ...(draft.auth.header ? { header: draft.auth.header } : {}), tokenSlot: source.slot, tokenRef: describeTokenSource(source.from) };
    }
    return completeRoute({ ...draft, auth });
  });
  return { routes, tokens, merged };
}

export function describeTokenSource(from: TokenSource['from']): string {
  return from.kind === 'env' ? from.name : `codex auth file ${from.path}`;
}
