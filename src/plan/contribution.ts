import type { PlanEnvEntry, PlanWarning } from './types.js';
import type { RouteDraft } from './routes.js';

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
  warnings: PlanWarning[];
}

export type ProviderMode = { kind: 'interactive' } | { kind: 'headless'; prompt: string };

/**
 * A model API's reply is the agent's own conversation, not untrusted web
 * content: one that mentions "ignore previous instructions" is recorded, not
 * cut mid-stream (the agent would fail its turn). A manifest route for the
 * host can set `dlp.inbound_on_match: terminate` back.
 */
export const MODEL_API_DLP: NonNullable<RouteDraft['dlp']> = { inboundOnMatch: 'report' };
