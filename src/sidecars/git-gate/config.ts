import * as z from 'zod/mini';

/**
 * The git-gate section of the sidecar config file. Secrets are not here: the
 * identity is a *path* to a key file that only the gate can read.
 */
const GateListenSchema = z.union([
  z.strictObject({ host: z.string().check(z.minLength(1)), port: z.int().check(z.minimum(0), z.maximum(65535)) }),
  z.strictObject({ socket: z.string().check(z.minLength(1)) }),
]);

/** Repo names become URL path segments and directory names: keep them inert. */
const REPO_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export const GitGateRepoSchema = z.strictObject({
  name: z
    .string()
    .check(
      z.regex(REPO_NAME_RE, 'repo name must be letters, digits, ".", "_" or "-" (no slashes), e.g. "bot-bottle"'),
      z.refine((n) => !n.endsWith('.git'), 'repo name must not end in ".git" (the gate adds it)'),
    ),
  /** SSH upstream: `ssh://git@host:port/path.git` or `git@host:path.git`. */
  url: z.string().check(z.minLength(1, 'url is the SSH upstream, e.g. git@github.com:org/repo.git')),
  /** Private key file on the gate's side; never sent to the agent. */
  identityFile: z.string().check(z.minLength(1, 'identityFile is the path of the deploy key the gate pushes with')),
  /** The upstream's pinned public host key line (`ssh-ed25519 AAAA...`, optionally prefixed by the host pattern). */
  hostKey: z.string().check(z.minLength(1, 'hostKey is the upstream host key line, e.g. from `ssh-keyscan`')),
  /** Ref patterns the agent may push (`bot/*` = refs/heads/bot/*; full `refs/...` patterns allowed). Absent: any ref. */
  branches: z.optional(z.array(z.string().check(z.minLength(1)))),
  /** Off by default: a force-push or deletion reaching upstream cannot be undone by the gate. */
  allowForcePush: z._default(z.boolean(), false),
  allowDelete: z._default(z.boolean(), false),
});

export const GitGateConfigSchema = z
  .strictObject({
    listen: GateListenSchema,
    /** Bare mirrors, hook socket and the gate's private git HOME live here. */
    dataDir: z.string().check(z.minLength(1)),
    repos: z.array(GitGateRepoSchema),
    /** The bottle's supervise queue: enables `git-push-allow` operator exceptions. */
    superviseQueueDir: z.optional(z.string().check(z.minLength(1))),
    /** How long a flagged push with an allow reason waits for the operator; 0 = reject at once, approval applies to the next identical push. */
    approvalWaitMs: z._default(z.int().check(z.minimum(0), z.maximum(3_600_000)), 0),
    /** Whole-push scan budget; a scan exceeding it rejects the push (fail closed). */
    scanTimeoutMs: z._default(z.int().check(z.minimum(1000), z.maximum(3_600_000)), 300_000),
    /** Not used by the gate; provisioning reads it for the agent's git identity. */
    user: z.optional(z.strictObject({ name: z.string().check(z.minLength(1)), email: z.string().check(z.minLength(1)) })),
  })
  .check(
    z.refine((c) => new Set(c.repos.map((r) => r.name)).size === c.repos.length, {
      message: 'repo names must be unique',
      path: ['repos'],
    }),
  );

export type GitGateRepo = z.infer<typeof GitGateRepoSchema>;
export type GitGateConfig = z.infer<typeof GitGateConfigSchema>;
/** What callers write (defaults not yet applied). */
export type GitGateConfigInput = z.input<typeof GitGateConfigSchema>;
