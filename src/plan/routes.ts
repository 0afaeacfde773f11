import type { RouteFrontmatter } from '../manifest/schema.js';
import { DEFAULT_OUTBOUND_DETECTORS, INBOUND_DETECTORS, type EgressRoutePlan } from './egress-route.js';
import type { TokenSource } from './types.js';

/** A route before token slots are numbered: manifest and provider routes both become this. */
export interface RouteDraft {
  host: string;
  port?: number;
  auth?: { scheme?: string; header?: string; tokenFrom: TokenSource['from'] };
  matches?: EgressRoutePlan['matches'];
  dlp?: EgressRoutePlan['dlp'];
  gitFetch?: boolean;
  source: EgressRoutePlan['source'];
}

export function draftFromManifest(route: RouteFrontmatter): RouteDraft {
  const dlp = route.dlp;
  return {
    host: route.host,
    ...(route.port !== undefined ? { port: route.port } : {}),
    ...(route.auth ? { auth: { ...(route.auth.scheme ? { scheme: route.auth.scheme } : {}), ...(route.auth.header && route.auth.header !== 'authorization' ? { header: route.auth.header } : {}), tokenFrom: { kind: 'env', name: route.auth.token_ref } } } : {}),
    matches: (route.matches ?? []).map((m) => ({
      paths: m.paths ?? [],
      methods: m.methods ?? [],
      headers: (m.headers ?? []).map((h) => ({ name: h.name.toLowerCase(), value: h.value, type: h.type ?? 'exact' })),
    })),
    dlp: {
      outbound: dlp?.outbound_detectors ?? [...DEFAULT_OUTBOUND_DETECTORS],
      inbound: dlp?.inbound_detectors === false ? [] : (dlp?.inbound_detectors ?? [...INBOUND_DETECTORS]),
      onMatch: dlp?.outbound_on_match ?? 'supervise',
    },
    gitFetch: route.git?.fetch ?? false,
    source: 'manifest',
  };
}

/**
 * Provider routes replace manifest routes for the same host (the provider
 * knows how its credential must be injected); otherwise order is kept.
 * Each authenticated route gets a numbered EGRESS_TOKEN_* slot; routes that
 * share a token source share a slot.
 */
export function finalizeRoutes(
  manifestRoutes: readonly RouteDraft[],
  providerRoutes: readonly RouteDraft[],
): { routes: EgressRoutePlan[]; tokens: TokenSource[]; dropped: string[] } {
  const providerHosts = new Set(providerRoutes.map((r) => r.host));
  const dropped = manifestRoutes.filter((r) => providerHosts.has(r.host)).map((r) => r.host);
  const drafts = [...providerRoutes, ...manifestRoutes.filter((r) => !providerHosts.has(r.host))];
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
    return {
      host: draft.host,
      port: draft.port ?? 443,
      ...(auth ? { auth } : {}),
      matches: draft.matches ?? [],
      dlp: draft.dlp ?? {
        outbound: [...DEFAULT_OUTBOUND_DETECTORS],
        inbound: [...INBOUND_DETECTORS],
        onMatch: 'supervise',
      },
      gitFetch: draft.gitFetch ?? false,
      source: draft.source,
    };
  });
  return { routes, tokens, dropped };
}

export function describeTokenSource(from: TokenSource['from']): string {
  return from.kind === 'env' ? from.name : `codex auth file ${from.path}`;
}
