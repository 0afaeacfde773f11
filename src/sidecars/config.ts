import * as z from 'zod/mini';
import { readJsonFile } from '../util/json-file.js';
import { EgressConfigSchema } from './egress/config.js';
import { GitGateConfigSchema } from './git-gate/config.js';
import { SuperviseConfigSchema } from './supervise/config.js';

/**
 * The one config file `bot-bottle sidecars --config FILE` reads. Each daemon
 * owns its section; a section that is absent means that daemon does not run.
 */
export const SidecarConfigSchema = z.strictObject({
  bottle: z.string().check(z.minLength(1)),
  /** The token slots' and sensitive host values (secrets.ts): a 0600 file only the bundle reads. */
  secretsFile: z.optional(z.string().check(z.minLength(1))),
  egress: z.optional(EgressConfigSchema),
  gitGate: z.optional(GitGateConfigSchema),
  supervise: z.optional(SuperviseConfigSchema),
});

export type SidecarConfig = z.infer<typeof SidecarConfigSchema>;

export function loadSidecarConfig(file: string): SidecarConfig {
  return readJsonFile(file, SidecarConfigSchema, 'sidecar config');
}
