import * as z from 'zod/mini';

/**
 * The egress section of the sidecar config file that the launch step writes.
 * Token values are not here: they arrive in the bundle's secrets file
 * (../secrets.ts), named by each route's `auth.tokenSlot` (EGRESS_TOKEN_*).
 */
export const ListenSchema = z.union([
  z.strictObject({ host: z.string().check(z.minLength(1)), port: z.int().check(z.minimum(0), z.maximum(65535)) }),
  z.strictObject({ socket: z.string().check(z.minLength(1)) }),
]);

export const EgressConfigSchema = z.strictObject({
  listen: ListenSchema,
  /** JSON array of EgressRoutePlan; reloaded on SIGHUP and on change. */
  routesFile: z.string().check(z.minLength(1)),
  /** Where the sidecar writes the public half of the CA it mints at start-up. */
  caCertOut: z.string().check(z.minLength(1)),
  /** JSON-lines audit log; stdout when absent. */
  auditLog: z.optional(z.string()),
  /**
   * The supervise queue directory (queueDir(slug)) for `egress-token-allow`
   * proposals. Absent: `dlp.onMatch: supervise` fails closed with a 403.
   */
  superviseQueueDir: z.optional(z.string().check(z.minLength(1))),
  /** Routed hosts to open one connection to when the launcher says `warm` (the plan's `preconnect`). */
  preconnect: z.optional(
    z.array(z.strictObject({ host: z.string().check(z.minLength(1), z.maxLength(253)), port: z.int().check(z.minimum(1), z.maximum(65535)) })).check(z.maxLength(4)),
  ),
});

export type Listen = z.infer<typeof ListenSchema>;
export type EgressConfig = z.infer<typeof EgressConfigSchema>;
