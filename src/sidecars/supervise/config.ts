import * as z from 'zod/mini';

/** Loopback only: the server has no authentication, so nothing off-host may reach it. */
const LOOPBACK = ['127.0.0.1', '::1', 'localhost'] as const;

/**
 * Or a single-label name: a container alias (the docker backend's `sidecars`),
 * which resolves to the bundle's address on the bottle's own internal network,
 * where only its agent is. Never an address (a wildcard or a routable one).
 */
const CONTAINER_ALIAS = /^[a-z][a-z0-9-]{0,62}$/;

export const SuperviseListenSchema = z.union([
  z.strictObject({
    host: z.string().check(
      z.refine((h) => (LOOPBACK as readonly string[]).includes(h) || CONTAINER_ALIAS.test(h), {
        error: 'supervise.listen.host must be 127.0.0.1, ::1, localhost or a container alias on the bottle\'s internal network (the server has no auth)',
      }),
    ),
    port: z.int().check(z.minimum(0), z.maximum(65535)),
  }),
  z.strictObject({ socket: z.string().check(z.minLength(1)) }),
]);

export const SuperviseConfigSchema = z.strictObject({
  listen: SuperviseListenSchema,
  /** queueDir(slug): where proposals and answers are exchanged with the console. */
  queueDir: z.string().check(z.minLength(1)),
  /** The bottle's live routes file (read for list-egress-routes; the console rewrites it). */
  routesFile: z.string().check(z.minLength(1)),
  /** How long a proposal waits for the operator before it is answered `timeout`. */
  proposalTimeoutMs: z._default(z.int().check(z.minimum(1000), z.maximum(24 * 3600_000)), 15 * 60_000),
  /** How often a waiting tool call sends a progress notification to keep the client alive. */
  progressIntervalMs: z._default(z.int().check(z.minimum(100), z.maximum(600_000)), 10_000),
  /** Extra Host header names the agent uses to reach the server (e.g. a container alias). */
  allowedHosts: z._default(z.array(z.string().check(z.minLength(1))), []),
});

export type SuperviseConfigInput = z.input<typeof SuperviseConfigSchema>;
