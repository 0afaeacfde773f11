import { homedir } from 'node:os';
import type { ProviderTemplate } from '../manifest/schema.js';
import type { MergedBottle } from '../manifest/merge.js';
import { codexContribution } from './codex-provider.js';
import type { ImagePlan } from './types.js';
import type { ProviderContribution, ProviderMode } from './contribution.js';
import { claudeContribution } from './claude.js';

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
