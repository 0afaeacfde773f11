import { z } from 'zod';

/**
 * The git-gate section of the sidecar config file. Secrets are not here: the
 * identity is a *path* to a key file that only the gate can read.
 */
const GateListenSchema = z.union([
  z.strictObject({ host: z.string().min(1), port: z.number().int().min(0).max(65535) }),
  z.strictObject({ socket: z.string().min(1) }),
]);

/** Repo names become URL path segments and directory names: keep them inert. */
const REPO_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export const GitGateRepoSchema = z.strictObject({
  name: z
    .string()
    .regex(REPO_NAME_RE, 'repo name must be letters, digits, ".", "_" or "-" (no slashes), e.g. "bot-bottle"')
    .refine((n) => !n.endsWith('.git'), 'repo name must not end in ".git" (the gate adds it)'),
  /** SSH upstream: `ssh://git@host:port/path.git` or `git@host:path.git`. */
  url: z.string().min(1, 'url is the SSH upstream, e.g. git@github.com:org/repo.git'),
  /** Private key file on the gate's side; never sent to the agent. */
  identityFile: z.string().min(1, 'identityFile is the path of the deploy key the gate pushes with'),
  /** The upstream's pinned public host key line (`ssh-ed25519 AAAA...`, optionally prefixed by the host pattern). */
  hostKey: z.string().min(1, 'hostKey is the upstream host key line, e.g. from `ssh-keyscan`'),
  /** Ref patterns the agent may push (`bot/*` = refs/heads/bot/*; full `refs/...` patterns allowed). Absent: any ref. */
  branches: z.array(z.string().min(1)).optional(),
  /** Off by default: a force-push or deletion reaching upstream cannot be undone by the gate. */
  allowForcePush: z.boolean().default(false),
  allowDelete: z.boolean().default(false),
});

export const GitGateConfigSchema = z
  .strictObject({
    listen: GateListenSchema,
    /** Bare mirrors, hook socket and the gate's private git HOME live here. */
    dataDir: z.string().min(1),
    repos: z.array(GitGateRepoSchema),
    /** The bottle's supervise queue: enables `git-push-allow` operator exceptions. */
    superviseQueueDir: z.string().min(1).optional(),
    /** How long a flagged push with an allow reason waits for the operator; 0 = reject at once, approval applies to the next identical push. */
    approvalWaitMs: z.number().int().min(0).max(3_600_000).default(0),
    /** Whole-push scan budget; a scan exceeding it rejects the push (fail closed). */
    scanTimeoutMs: z.number().int().min(1000).max(3_600_000).default(300_000),
    /** Not used by the gate; provisioning reads it for the agent's git identity. */
    user: z.strictObject({ name: z.string().min(1), email: z.string().min(1) }).optional(),
  })
  .refine((c) => new Set(c.repos.map((r) => r.name)).size === c.repos.length, {
    message: 'repo names must be unique',
    path: ['repos'],
  });

export type GitGateRepo = z.infer<typeof GitGateRepoSchema>;
export type GitGateConfig = z.infer<typeof GitGateConfigSchema>;
/** What callers write (defaults not yet applied). */
export type GitGateConfigInput = z.input<typeof GitGateConfigSchema>;
