/**
 * Keys earlier versions accepted. They fail loudly with a migration hint
 * instead of being ignored, because an ignored security setting is worse
 * than an error.
 */
export const REMOVED_BOTTLE_KEYS: Record<string, string> = {
  cred_proxy: 'cred_proxy was replaced by egress routes: move each route to `egress.routes` with `auth: {scheme, token_ref}`',
  git: 'git was replaced by `git-gate`: identity goes to `git-gate.user`, remotes to `git-gate.repos.<name>: {url, identity, host_key}`',
  runtime: 'runtime was removed: the backend chooses the isolation (pick it with --backend); delete this key',
  supervise: 'supervise is always on now; delete this key',
  egress_proxy: 'egress_proxy was renamed: use `egress.routes`',
  pipelock: 'pipelock was folded into egress: use `egress.routes[].dlp` for scanning settings',
};

export const REMOVED_AGENT_KEYS: Record<string, string> = {
  git: 'git was replaced by `git-gate.user` ({name, email}); repos belong in a bottle',
  cred_proxy: 'credentials belong in a bottle, never in an agent',
};

export const REMOVED_ROUTE_KEYS: Record<string, string> = {
  path_allowlist: 'path_allowlist was replaced by `matches`: write `matches: [{paths: [{type: prefix, value: /api/}]}]`',
  role: 'route roles were removed: provider routes are added by `agent_provider`; delete `role`',
  pipelock: 'per-route pipelock settings were removed: use `dlp`',
};

export const REMOVED_EGRESS_KEYS: Record<string, string> = {
  allowlist: 'egress.allowlist was replaced by routes: write `egress.routes: [{host: example.com}]`',
};
