import { homedir } from 'node:os';
import type { ProviderTemplate } from '../manifest/schema.js';
import type { MergedBottle } from '../manifest/merge.js';
import { codexContribution } from './codex-provider.js';
import type { ImagePlan, PlanEnvEntry } from './types.js';
import type { RouteDraft } from './routes.js';
import { claudeContribution } from './claude.js';

/**
 * What each agent provider adds to a bottle: the program it runs, the
 * routes it needs (a manifest route for the same host is merged in:
 * routes.ts mergeProviderRoute), and placeholder variables that stand in for
 * credentials egress injects.
 */
export interface ProviderContribution {
  program: string;
  command: string[];
  routes: RouteDraft[];
  placeholders: PlanEnvEntry[];
  /** The provider's fixed settings (e.g. auto-update off); the bottle's own env wins over them. */
  env?: PlanEnvEntry[];
  /** Folders of the agent's home (relative to it) kept across runs of the bottle: the agent's settings and conversations. */
  persist?: string[];
  warnings: string[];
}

export type ProviderMode = { kind: 'interactive' } | { kind: 'headless'; prompt: string };

export { PLACEHOLDER_TOKEN } from './placeholder.js';

/**
 * A model API's reply is the agent's own conversation, not untrusted web
 * content: one that mentions "ignore previous instructions" is recorded, not
 * cut mid-stream (the agent would fail its turn). A manifest route for the
 * host can set `dlp.inbound_on_match: terminate` back.
 */
export const MODEL_API_DLP: NonNullable<RouteDraft['dlp']> = { inboundOnMatch: 'report' };

export function providerTemplate(bottle: MergedBottle): ProviderTemplate {
  return bottle.agent_provider?.template ?? 'claude';
}

export function providerImage(bottle: MergedBottle, program: string, backend: string): ImagePlan {
  const dockerfile = bottle.agent_provider?.dockerfile;
  if (dockerfile) return { kind: 'dockerfile', path: dockerfile };
  if (backend === 'bwrap') return { kind: 'host-program', program };
  return { kind: 'default', name: `bot-bottle-agent-${providerTemplate(bottle)}:latest` };
}

export function providerContribution(
  bottle: MergedBottle,
  mode: ProviderMode,
  userHome: string = homedir(),
  agent: { model?: string | undefined; resume: boolean; session?: string | undefined; agentHome?: string | undefined } = { resume: false },
): ProviderContribution {
  const provider = bottle.agent_provider ?? {};
  switch (providerTemplate(bottle)) {
    case 'shell':
      return {
        program: 'bash',
        // bash in both modes: a headless prompt behaves as it does at the interactive prompt.
        command: mode.kind === 'headless' ? ['bash', '-c', mode.prompt] : ['bash', '-l'],
        routes: [],
        placeholders: [],
        warnings: [],
      };
    case 'claude':
      return claudeContribution(bottle, mode, agent);
    case 'codex':
      return codexContribution(provider, mode, userHome, agent);
  }
}
