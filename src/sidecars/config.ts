import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { EgressConfigSchema } from './egress/config.js';
import { GitGateConfigSchema } from './git-gate/config.js';
import { SuperviseConfigSchema } from './supervise/config.js';

/**
 * The one config file `bot-bottle sidecars --config FILE` reads. Each daemon
 * owns its section; a section that is absent means that daemon does not run.
 */
export const SidecarConfigSchema = z.strictObject({
  bottle: z.string().min(1),
  egress: EgressConfigSchema.optional(),
  gitGate: GitGateConfigSchema.optional(),
  supervise: SuperviseConfigSchema.optional(),
});

export type SidecarConfig = z.infer<typeof SidecarConfigSchema>;

export function loadSidecarConfig(file: string): SidecarConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`sidecar config ${file}: cannot read JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = SidecarConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`sidecar config ${file} is invalid:\n  ${issues.join('\n  ')}`);
  }
  return parsed.data;
}
