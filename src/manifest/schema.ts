import { z } from 'zod';
import { INBOUND_DETECTORS, ON_MATCH, OUTBOUND_DETECTORS } from '../plan/egress-route.js';

/**
 * The frontmatter schemas exactly as a person writes them (snake_case keys,
 * everything optional that the spec allows to be omitted). Every object is
 * strict: an unknown key is an error, never silently ignored.
 */

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HOST = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE'] as const;
/** Headers that frame the request or belong to the proxy hop: never a place for an injected credential. */
const AUTH_FORBIDDEN_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'proxy-authenticate', 'proxy-connection']);

export const EnvSchema = z.record(
  z.string().regex(ENV_NAME, 'env names are letters, digits and _ and do not start with a digit'),
  z.string({ error: 'env values must be strings; quote numbers and booleans (e.g. "8080")' }),
);

export const GitUserSchema = z.strictObject({
  name: z.string().min(1).optional(),
  email: z.string().min(1).optional(),
});

const PathMatchSchema = z.strictObject({
  type: z.enum(['prefix', 'exact', 'regex']),
  value: z.string().min(1),
});

const HeaderMatchSchema = z.strictObject({
  name: z.string().min(1),
  value: z.string(),
  type: z.enum(['exact', 'regex']).optional(),
});

const RouteMatchSchema = z.strictObject({
  paths: z.array(PathMatchSchema).optional(),
  methods: z
    .array(z.string().transform((m) => m.toUpperCase()).pipe(z.enum(HTTP_METHODS, { error: `methods are HTTP verbs: ${HTTP_METHODS.join(', ')}` })))
    .optional(),
  headers: z.array(HeaderMatchSchema).optional(),
});

export const RouteSchema = z.strictObject({
  host: z
    .string()
    .transform((h) => h.toLowerCase())
    .pipe(
      z
        .string()
        .regex(HOST, 'host must be a DNS name (exact, or *.domain for subdomains); IP addresses are not allowed')
        // No real TLD is numeric, so a numeric last label means an IP literal in some notation.
        .refine((h) => !/(^|\.)(\d+|0x[0-9a-f]+)$/.test(h), 'IP addresses are not allowed as hosts: name the host by its DNS name'),
    ),
  port: z.number().int().min(1).max(65535).optional(),
  auth: z
    .strictObject({
      scheme: z.string().regex(/^[A-Za-z][A-Za-z0-9._-]*$/, 'scheme is one word, e.g. Bearer or token').optional(),
      header: z
        .string()
        .transform((h) => h.toLowerCase())
        .pipe(
          z
            .string()
            .regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, 'header is an HTTP header name, e.g. x-api-key')
            .refine((h) => !AUTH_FORBIDDEN_HEADERS.has(h), 'this header cannot carry a credential: it frames the request or is the proxy\'s own'),
        )
        .optional(),
      token_ref: z.string().regex(ENV_NAME, 'token_ref is the NAME of a host environment variable, not the token itself'),
    })
    .refine((a) => a.scheme !== undefined || a.header !== undefined, 'auth needs a scheme (sends `Authorization: <scheme> <token>`) or a header (sends `<header>: <token>`, e.g. header: x-api-key)')
    .optional(),
  matches: z.array(RouteMatchSchema).optional(),
  dlp: z
    .strictObject({
      outbound_detectors: z.array(z.enum(OUTBOUND_DETECTORS)).optional(),
      inbound_detectors: z.union([z.array(z.enum(INBOUND_DETECTORS)), z.literal(false)]).optional(),
      outbound_on_match: z.enum(ON_MATCH).optional(),
    })
    .optional(),
  git: z.strictObject({ fetch: z.boolean() }).optional(),
});

export const RepoSchema = z.strictObject({
  url: z.string().min(1),
  identity: z.string().min(1),
  host_key: z.string().min(1),
  branches: z.array(z.string().min(1)).optional(),
});

export const PROVIDER_TEMPLATES = ['shell', 'claude', 'codex'] as const;
export type ProviderTemplate = (typeof PROVIDER_TEMPLATES)[number];

export const AgentProviderSchema = z
  .strictObject({
    template: z.enum(PROVIDER_TEMPLATES).optional(),
    dockerfile: z.string().min(1).optional(),
    auth_token: z.string().regex(ENV_NAME, 'auth_token is the NAME of a host environment variable holding the token').optional(),
    /** claude: an Anthropic Console API key (sent as x-api-key) instead of an OAuth token. */
    api_key: z.string().regex(ENV_NAME, 'api_key is the NAME of a host environment variable holding the API key').optional(),
    forward_host_credentials: z.boolean().optional(),
    /** Keep the agent's own permission prompts; by default they are off, because the bottle is the boundary. */
    permission_prompts: z.boolean().optional(),
  })
  .superRefine((p, ctx) => {
    if (p.api_key !== undefined && p.auth_token !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['api_key'], message: 'give either auth_token (an OAuth token, e.g. from `claude setup-token`) or api_key (an Anthropic Console API key), not both' });
    }
    if (p.api_key !== undefined && (p.template ?? 'claude') !== 'claude') {
      ctx.addIssue({ code: 'custom', path: ['api_key'], message: 'api_key is only for the claude template (an Anthropic Console API key)' });
    }
  });

export const BottleSchema = z.strictObject({
  extends: z.string().min(1).optional(),
  env: EnvSchema.optional(),
  agent_provider: AgentProviderSchema.optional(),
  egress: z.strictObject({ routes: z.array(RouteSchema).optional() }).optional(),
  'git-gate': z
    .strictObject({
      user: GitUserSchema.optional(),
      repos: z.record(z.string().regex(/^[A-Za-z0-9._-]+$/, 'repo names are letters, digits, . _ -'), RepoSchema).optional(),
    })
    .optional(),
});

/** Claude Code subagent keys: accepted so one file can serve both tools; all but `model` are ignored. */
export const CLAUDE_SUBAGENT_KEYS = ['name', 'description', 'model', 'color', 'memory', 'tools'] as const;

/** A model name or alias as the agent program takes it (`sonnet`, `claude-sonnet-4-5`, `gpt-5-codex`); `inherit` = the program's default. */
const MODEL = /^[A-Za-z0-9][A-Za-z0-9._:@[\]/-]{0,127}$/;

export const AgentSchema = z.strictObject({
  bottle: z.string().min(1).optional(),
  skills: z.array(z.string().regex(/^[A-Za-z0-9._-]+$/, 'skill names are folder names under ~/.claude/skills')).optional(),
  'git-gate': z.strictObject({ user: GitUserSchema.optional() }).optional(),
  name: z.unknown().optional(),
  description: z.unknown().optional(),
  model: z.string({ error: 'model is a model name or alias, e.g. sonnet' }).regex(MODEL, 'model is a model name or alias, e.g. sonnet or claude-sonnet-4-5').optional(),
  color: z.unknown().optional(),
  memory: z.unknown().optional(),
  tools: z.unknown().optional(),
});

export type BottleFrontmatter = z.infer<typeof BottleSchema>;
export type AgentFrontmatter = z.infer<typeof AgentSchema>;
export type RouteFrontmatter = z.infer<typeof RouteSchema>;
export type RepoFrontmatter = z.infer<typeof RepoSchema>;
export type GitUser = z.infer<typeof GitUserSchema>;
