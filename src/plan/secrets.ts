/**
 * The secret values a launch resolves for a plan (the plan itself only says
 * where they come from). Provisioning and the containment self-test take
 * this shape; the backends' LaunchSecrets is the same.
 */
export interface ResolvedSecrets {
  /** Agent environment entries resolved from prompts and host variables. */
  agentEnv: Record<string, string>;
  /** EGRESS_TOKEN_* values for the sidecar bundle only. */
  sidecarEnv: Record<string, string>;
}
