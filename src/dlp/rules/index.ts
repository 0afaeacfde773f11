import { cloudAndScmRules } from './cloud-scm.js';
import { registryAndAiRules } from './registries-ai.js';
import { saasRules } from './saas.js';
import { structuralRules } from './structural.js';
import type { TokenRule } from './types.js';

export type { TokenRule } from './types.js';

/** Every token_patterns rule; ids are stable (they appear in findings and `[REDACTED:id]`). */
export const TOKEN_RULES: readonly TokenRule[] = [...cloudAndScmRules, ...registryAndAiRules, ...saasRules, ...structuralRules];
