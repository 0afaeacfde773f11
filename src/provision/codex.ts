import { readFileSync } from 'node:fs';
import { CODEX_PLACEHOLDER_KEY_VAR } from '../plan/codex-provider.js';
import { PLACEHOLDER_TOKEN } from '../plan/placeholder.js';
import type { BottlePlan } from '../plan/types.js';
import { GUEST_HOME } from './layout.js';

/** Codex's home inside the bottle; kept across runs of the bottle so `resume` finds its sessions. */
export const CODEX_HOME = `${GUEST_HOME}/.codex`;

/**
 * Codex's settings inside a bottle. The bottle is the boundary, so Codex runs
 * with full access to it and never asks (its own Linux sandbox would only
 * fail inside bwrap's namespaces), trusts the workspace, and makes no call of
 * its own that egress would have to refuse: each refused call is retried, and
 * the model list alone held `codex exec` up ~6 s at start (measured with
 * 0.171). Written at every launch, ahead of the MCP registration; the pinned
 * Codex reads it with --strict-config in tests/agents/codex-config.test.ts.
 */
export function codexConfigToml(workspace: string): string {
  return [
    '# Written by bot-bottle at every launch: the bottle is the boundary.',
    'approval_policy = "never"',
    'sandbox_mode = "danger-full-access"',
    'check_for_update_on_startup = false',
    '',
    '[analytics]',
    'enabled = false',
    '',
    '[feedback]',
    'enabled = false',
    '',
    '[features]',
    '# chatgpt.com/backend-api/codex/models, asked even with an API key',
    'api_key_model_discovery = false',
    '# api.github.com/repos/openai/plugins and chatgpt.com/backend-api/plugins',
    'plugins = false',
    'remote_plugin = false',
    '# a background app server that first copies the native codex files (~420 MB) into ~/.codex/packages',
    'daemon_auto_start = false',
    '',
    '[notice]',
    'hide_full_access_warning = true',
    '',
    `[projects.${JSON.stringify(workspace)}]`,
    'trust_level = "trusted"',
    '',
  ].join('\n');
}

/**
 * The agent's auth.json: never a real credential. With an API key from a host
 * variable (`auth_token`), a placeholder key, which is what keeps Codex from
 * showing its login screen; egress injects the real key. With forwarded host
 * credentials, the host file's shape with every credential replaced.
 */
export function codexAuthJson(plan: BottlePlan): string | undefined {
  const forwarded = plan.sidecars.egress.tokens.find((t) => t.from.kind === 'codex-auth-file');
  if (forwarded?.from.kind === 'codex-auth-file') return codexPlaceholderAuth(forwarded.from.path, PLACEHOLDER_TOKEN);
  const apiKey = plan.env.find((e) => e.name === CODEX_PLACEHOLDER_KEY_VAR && e.kind === 'placeholder');
  if (apiKey) return `${JSON.stringify({ auth_mode: 'apikey', OPENAI_API_KEY: PLACEHOLDER_TOKEN }, null, 2)}\n`;
  return undefined;
}

interface CodexAuth {
  OPENAI_API_KEY?: string | null;
  tokens?: { access_token?: string; id_token?: string; refresh_token?: string; account_id?: string } | null;
}

/** The same shape as the host's auth.json with every credential replaced, for the agent's own ~/.codex. */
export function codexPlaceholderAuth(path: string, placeholder: string): string {
  const auth = JSON.parse(readFileSync(path, 'utf8')) as CodexAuth & Record<string, unknown>;
  const out: Record<string, unknown> = { ...auth };
  if (auth.OPENAI_API_KEY) out.OPENAI_API_KEY = placeholder;
  if (auth.tokens) {
    out.tokens = {
      ...auth.tokens,
      ...(auth.tokens.access_token ? { access_token: placeholder } : {}),
      ...(auth.tokens.refresh_token ? { refresh_token: placeholder } : {}),
      // id_token is parsed by codex for account info; keep its claims but not its signature.
      ...(auth.tokens.id_token ? { id_token: unsignedJwt(auth.tokens.id_token) } : {}),
    };
  }
  return `${JSON.stringify(out, null, 2)}\n`;
}

function unsignedJwt(token: string): string {
  const [header, payload] = token.split('.');
  return `${header ?? ''}.${payload ?? ''}.placeholder`;
}
