import { join } from 'node:path';
import type { AgentProviderSchema } from '../manifest/schema.js';
import type { z } from 'zod';
import { MODEL_API_DLP, type ProviderContribution } from './contribution.js';
import { PLACEHOLDER_TOKEN } from './placeholder.js';
import type { BottlePlan, PlanWarning } from './types.js';
import { blocking, notice } from './warnings.js';

type AgentProvider = z.infer<typeof AgentProviderSchema>;

export const CODEX_PLACEHOLDER_KEY_VAR = 'OPENAI_API_KEY';
/** A model name as it may follow `--model=`: no spaces, no option syntax. */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
/** Claude Code's model aliases: one agent file serves both tools, and these mean nothing to Codex. */
const CLAUDE_MODELS = /^(inherit|sonnet|opus|haiku|claude-.*)$/;

/**
 * The codex provider. Authentication is an OpenAI API key from a host variable
 * (`auth_token`) or the host's own Codex login (`forward_host_credentials`);
 * either way egress injects the real credential and the agent holds a
 * placeholder. Inside the bottle Codex runs with full access to it and no
 * approval prompts (the bottle is the boundary; Codex's own sandbox would fail
 * inside bwrap), outside a git repository if the workspace is not one, and
 * `resume` continues the bottle's last session.
 */
export function codexContribution(
  provider: AgentProvider,
  mode: BottlePlan['mode'],
  userHome: string,
  agent: { model?: unknown; resume: boolean },
): ProviderContribution {
  const warnings: PlanWarning[] = [];
  const keyRef = provider.auth_token;
  const forward = provider.forward_host_credentials === true;
  if (keyRef && forward) warnings.push(blocking('provider-auth', 'agent_provider: auth_token and forward_host_credentials are both set for codex: keep one'));
  let auth: { scheme: string; tokenFrom: { kind: 'env'; name: string } | { kind: 'codex-auth-file'; path: string } } | undefined;
  if (keyRef) auth = { scheme: 'Bearer', tokenFrom: { kind: 'env', name: keyRef } };
  else if (forward) auth = { scheme: 'Bearer', tokenFrom: { kind: 'codex-auth-file', path: join(userHome, '.codex', 'auth.json') } };
  else warnings.push(notice('provider-auth', 'agent_provider has neither auth_token nor forward_host_credentials: codex will need its own login inside the bottle'));

  const model = codexModel(agent.model, warnings);
  const resume = agent.resume;
  const common = ['--dangerously-bypass-approvals-and-sandbox', ...(model ? [`--model=${model}`] : [])];
  const command =
    mode.kind === 'headless'
      ? ['codex', 'exec', ...(resume ? ['resume', '--last'] : []), ...common, '--skip-git-repo-check', '--', mode.prompt]
      : ['codex', ...(resume ? ['resume', '--last'] : []), ...common];
  // An API key is only good on the API; a ChatGPT login also talks to chatgpt.com's backend.
  const hosts = keyRef ? ['api.openai.com'] : ['api.openai.com', 'chatgpt.com'];
  return {
    program: 'codex',
    command,
    routes: hosts.map((host) => ({ host, ...(auth ? { auth } : {}), dlp: MODEL_API_DLP, source: 'provider' as const })),
    placeholders: keyRef ? [{ name: CODEX_PLACEHOLDER_KEY_VAR, kind: 'placeholder', value: PLACEHOLDER_TOKEN, secret: false }] : [],
    // Codex's sessions (and its config, rewritten at every launch): `resume` finds the last one there.
    persist: ['.codex'],
    warnings,
  };
}

function codexModel(model: unknown, warnings: PlanWarning[]): string | undefined {
  if (model === undefined || model === null) return undefined;
  if (typeof model !== 'string' || !MODEL_NAME.test(model)) {
    warnings.push(notice('provider-model', `the agent's model ${JSON.stringify(model)} is not a model name (letters, digits, . _ : / -): codex uses its default`));
    return undefined;
  }
  return CLAUDE_MODELS.test(model) ? undefined : model;
}
