import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { MergedBottle } from '../manifest/merge.js';
import { knownSlugs } from '../state/metadata.js';
import { bottleStatePaths } from '../state/paths.js';
import type { PlanEnvEntry, PlanWarning } from './types.js';
import { notice } from './warnings.js';
import type { RouteDraft } from './routes.js';
import { MODEL_API_DLP, type ProviderContribution, type ProviderMode } from './contribution.js';
import { PLACEHOLDER_TOKEN } from './placeholder.js';

/**
 * The claude provider. Inside a bottle Claude Code runs with its own
 * permission prompts off (the bottle is the boundary; `permission_prompts:
 * true` keeps them), starts without onboarding or network checks, and keeps
 * its configuration folder (settings, conversations) across runs of the
 * bottle, so `resume` can `--continue` the conversation.
 */

/** Claude Code's configuration folder in the guest (CLAUDE_CONFIG_DIR): `.claude.json` lives inside it too. */
export const CLAUDE_CONFIG_DIR = '.claude';

/**
 * What Claude Code must reach on api.anthropic.com, found by running 2.1.332
 * through egress (headless and interactive) and reading the audit: the
 * Messages API (count_tokens lives under it) and the organisation's managed
 * settings and policy limits, which it reads before every session. Everything
 * else it calls there is optional and switched off by CLAUDE_ENV (telemetry,
 * feature flags, bootstrap, release notes), skipped (the onboarding's
 * /api/hello check, the WebFetch domain lookup) or carried by the proxy.
 */
export const CLAUDE_API_MATCHES: NonNullable<RouteDraft['matches']> = [
  { paths: [{ type: 'prefix', value: '/v1/messages' }], methods: ['POST'], headers: [] },
  {
    paths: [
      { type: 'exact', value: '/api/claude_code/settings' },
      { type: 'exact', value: '/api/claude_code/policy_limits' },
    ],
    methods: ['GET'],
    headers: [],
  },
];

/** Set for every claude bottle unless the bottle's env sets the same name: no self-update, no telemetry, nothing optional on the network. */
export const CLAUDE_ENV: Readonly<Record<string, string>> = {
  DISABLE_AUTOUPDATER: '1',
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  DISABLE_TELEMETRY: '1',
  DISABLE_ERROR_REPORTING: '1',
  DISABLE_INSTALLATION_CHECKS: '1',
  // Claude's exit hint becomes `bot-bottle --resume <session>`, which works from the host (plain `claude --resume` cannot).
  CLAUDE_CODE_RESUME_HINT_COMMAND: 'bot-bottle',
  CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL: '1',
};

export function claudeContribution(
  bottle: MergedBottle,
  mode: ProviderMode,
  opts: { model?: string | undefined; resume: boolean; session?: string | undefined; agentHome?: string | undefined },
): ProviderContribution {
  const provider = bottle.agent_provider ?? {};
  const command = ['claude'];
  if (provider.permission_prompts !== true) command.push('--permission-mode', 'bypassPermissions');
  // `inherit` is Claude Code's subagent word for "the default model".
  if (opts.model && opts.model !== 'inherit') command.push('--model', opts.model);
  if (opts.session) command.push('--resume', opts.session);
  // Interactive `--continue` with nothing to continue exits 1 ("No conversation found to continue").
  else if (opts.resume && opts.agentHome && hasClaudeConversation(join(opts.agentHome, CLAUDE_CONFIG_DIR))) command.push('--continue');
  // After `--`, a prompt that starts with a dash is still the prompt.
  if (mode.kind === 'headless') command.push('-p', '--', mode.prompt);

  const env: PlanEnvEntry[] = Object.entries(CLAUDE_ENV)
    .filter(([name]) => bottle.env?.[name] === undefined)
    .map(([name, value]) => ({ name, kind: 'literal' as const, value, secret: false as const }));
  const placeholders: PlanEnvEntry[] = [];
  const route: RouteDraft = { host: 'api.anthropic.com', matches: CLAUDE_API_MATCHES, dlp: MODEL_API_DLP, source: 'provider' };
  const warnings: PlanWarning[] = [];
  if (provider.api_key) {
    route.auth = { header: 'x-api-key', tokenFrom: { kind: 'env', name: provider.api_key } };
    placeholders.push({ name: 'ANTHROPIC_API_KEY', kind: 'placeholder', value: PLACEHOLDER_TOKEN, secret: false });
  } else if (provider.auth_token) {
    route.auth = { scheme: 'Bearer', tokenFrom: { kind: 'env', name: provider.auth_token } };
    placeholders.push({ name: 'CLAUDE_CODE_OAUTH_TOKEN', kind: 'placeholder', value: PLACEHOLDER_TOKEN, secret: false });
  } else {
    warnings.push(notice('provider-auth', 'agent_provider.auth_token and api_key are not set: claude will have to log in inside the bottle'));
  }
  return { program: 'claude', command, routes: [route], placeholders, env, persist: [CLAUDE_CONFIG_DIR], warnings };
}

/** Claude Code's session ids are UUIDs; nothing else is looked up on disk or passed on. */
export const CLAUDE_SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The bottles whose persisted Claude state holds conversation `id`
 * (`projects/<dir>/<id>.jsonl`). Only names are looked at, never followed:
 * the folders are the agent's.
 */
export function bottlesWithClaudeSession(home: string, id: string): string[] {
  if (!CLAUDE_SESSION_ID.test(id)) return [];
  return knownSlugs(home).filter((slug) => {
    const projects = join(bottleStatePaths(slug, home).agentHome, CLAUDE_CONFIG_DIR, 'projects');
    let dirs: string[];
    try {
      dirs = readdirSync(projects, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch {
      return false;
    }
    return dirs.some((d) => {
      try {
        return lstatSync(join(projects, d, `${id}.jsonl`)).isFile();
      } catch {
        return false;
      }
    });
  });
}

/** Whether Claude Code has a conversation to `--continue` for the workspace (its project folder is named after the cwd). */
export function hasClaudeConversation(configDir: string): boolean {
  const project = join(configDir, 'projects', '-workspace');
  try {
    return readdirSync(project, { withFileTypes: true }).some((d) => d.isFile() && d.name.endsWith('.jsonl'));
  } catch {
    return false;
  }
}
