import { z } from 'zod';

/** Loopback only: the server has no authentication, so nothing off-host may reach it. */
const LOOPBACK = ['127.0.0.1', '::1', 'localhost'] as const;

export const SuperviseListenSchema = z.union([
  z.strictObject({
    host: z.enum(LOOPBACK, { error: 'supervise.listen.host must be 127.0.0.1, ::1 or localhost (the server has no auth)' }),
    port: z.number().int().min(0).max(65535),
  }),
  z.strictObject({ socket: z.string().min(1) }),
]);

export const SuperviseConfigSchema = z.strictObject({
  listen: SuperviseListenSchema,
  /** queueDir(slug): where proposals and answers are exchanged with the console. */
  queueDir: z.string().min(1),
  /** The bottle's live routes file (read for list-egress-routes; the console rewrites it). */
  routesFile: z.string().min(1),
  /** How long a proposal waits for the operator before it is answered `timeout`. */
  proposalTimeoutMs: z.number().int().min(1000).max(24 * 3600_000).default(15 * 60_000),
  /** How often a waiting tool call sends a progress notification to keep the client alive. */
  progressIntervalMs: z.number().int().min(100).max(600_000).default(10_000),
  /** Extra Host header names the agent uses to reach the server (e.g. a container alias). */
  allowedHosts: z.array(z.string().min(1)).default([]),
});

export type SuperviseConfig = z.infer<typeof SuperviseConfigSchema>;
export type SuperviseConfigInput = z.input<typeof SuperviseConfigSchema>;
