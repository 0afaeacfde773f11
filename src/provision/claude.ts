import { CLAUDE_CONFIG_DIR } from '../plan/claude.js';
import { PLACEHOLDER_TOKEN } from '../plan/placeholder.js';
import type { BottlePlan } from '../plan/types.js';
import { SUPERVISE_SERVER_NAME } from '../supervise/registration.js';
import type { GuestFile } from './guest.js';
import { GUEST_HOME } from './layout.js';

/** Claude Code's configuration folder in the guest; kept across runs of the bottle (the plan's `persist`). */
export const GUEST_CLAUDE_CONFIG = `${GUEST_HOME}/${CLAUDE_CONFIG_DIR}`;
/** bot-bottle's own settings for Claude Code, passed with --settings: fresh every launch, never the agent's to keep. */
export const GUEST_CLAUDE_SETTINGS = `${GUEST_HOME}/.bot-bottle/claude-settings.json`;
export const GUEST_SYSTEM_PROMPT = `${GUEST_HOME}/.bot-bottle/system-prompt.md`;

/**
 * What Claude Code needs to start inside a bottle with nobody to click
 * through its screens: onboarding done, the workspace trusted, the
 * bypass-permissions warning accepted, the placeholder API key approved, and
 * the supervise server registered with its tools always loaded (not deferred
 * behind tool search, so the agent sees at once how to ask for access).
 * `theme` is only a default: a choice made with /config is kept.
 */
export function claudeGuest(plan: BottlePlan, superviseUrl: string, workspace: string): { env: Record<string, string>; files: GuestFile[]; args: string[] } {
  const bypass = plan.provider.command.includes('bypassPermissions');
  const state = {
    hasCompletedOnboarding: true,
    // The same "approved" list Claude Code writes when a person accepts an ANTHROPIC_API_KEY: its last 20 chars.
    customApiKeyResponses: { approved: [PLACEHOLDER_TOKEN.slice(-20)], rejected: [] },
    ...(bypass ? { bypassPermissionsModeAccepted: true } : {}),
    autoUpdates: false,
    projects: { [workspace]: { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true } },
    mcpServers: { [SUPERVISE_SERVER_NAME]: { type: 'http', url: superviseUrl, alwaysLoad: true } },
  };
  const settings = {
    // With the prompts kept (permission_prompts: true), asking the operator for access is still never itself a prompt.
    permissions: { allow: [`mcp__${SUPERVISE_SERVER_NAME}`] },
    ...(bypass ? { skipDangerousModePermissionPrompt: true } : {}),
    autoUpdates: false,
    // WebFetch would first ask api.anthropic.com/api/web/domain_info about every host (a path egress does
    // not route); in a bottle, egress's routes are the list of what may be fetched.
    skipWebFetchPreflight: true,
  };
  const files: GuestFile[] = [
    {
      path: `${GUEST_CLAUDE_CONFIG}/.claude.json`,
      content: `${JSON.stringify(state, null, 2)}\n`,
      defaults: `${JSON.stringify({ theme: 'dark' })}\n`,
      mode: 0o600,
      merge: 'json',
    },
    { path: GUEST_CLAUDE_SETTINGS, content: `${JSON.stringify(settings, null, 2)}\n`, mode: 0o644 },
  ];
  const args = ['--settings', GUEST_CLAUDE_SETTINGS];
  // By file, not by value: an argument is on every process list of the host.
  if (plan.agent.systemPrompt.length > 0) args.push('--append-system-prompt-file', GUEST_SYSTEM_PROMPT);
  return { env: { CLAUDE_CONFIG_DIR: GUEST_CLAUDE_CONFIG }, files, args };
}
