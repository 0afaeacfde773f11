import { z } from 'zod';
import { readJsonFile } from '../util/json-file.js';
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
  return readJsonFile(file, SidecarConfigSchema, 'sidecar config');
}
