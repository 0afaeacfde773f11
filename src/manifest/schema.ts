import { z } from 'zod';
import { INBOUND_DETECTORS, INBOUND_ON_MATCH, ON_MATCH, OUTBOUND_DETECTORS } from '../routes/model.js';
import { routeRegexProblem } from '../routes/regex.js';
import { controlProblem } from './control-chars.js';
import { nameProblem } from './names.js';

/**
 * The frontmatter schemas exactly as a person writes them (snake_case keys,
 * everything optional that the spec allows to be omitted). Every object is
 * strict: an unknown key is an error, never silently ignored.
 */

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HOST = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE'] as const;
/** RFC 9110 field-name token. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A single-line value (it becomes an argument, an env entry, a path or a header): no control characters at all. */
const line = (base: z.ZodString = z.string()) =>
  base.check((ctx) => {
    const problem = controlProblem(ctx.value, 'line');
    if (problem) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
  });

/** A bottle, agent, skill or repo name: it is joined onto a folder, so it can never be a path. */
const name = (what: string, fix: string) =>
  z.string().check((ctx) => {
    const problem = nameProblem(ctx.value, what);
    if (problem) ctx.issues.push({ code: 'custom', message: `${problem}; ${fix}`, input: ctx.value });
  });

const BOTTLE_FIX = 'a bottle is named by its file in ~/.bot-bottle/bottles without ".md" (e.g. `dev`); repositories can never supply one';

/** Regex matches are compiled at validation, on the same linear-time engine egress uses. */
const regexChecked = <T extends { type?: string | undefined; value: string }>(schema: z.ZodType<T>) =>
  schema.check((ctx) => {
    if (ctx.value.type !== 'regex') return;
    const problem = routeRegexProblem(ctx.value.value);
    if (problem) ctx.issues.push({ code: 'custom', message: problem, path: ['value'], input: ctx.value });
  });
/** Headers that frame the request or belong to the proxy hop: never a place for an injected credential. */
const AUTH_FORBIDDEN_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'proxy-authenticate', 'proxy-connection']);

export const EnvSchema = z.record(
  z.string().regex(ENV_NAME, 'env names are letters, digits and _ and do not start with a digit'),
  line(z.string({ error: 'env values must be strings; quote numbers and booleans (e.g. "8080")' })),
);

export const GitUserSchema = z.strictObject({
  name: line(z.string().min(1)).optional(),
  email: line(z.string().min(1)).optional(),
});

const PathMatchSchema = regexChecked(
  z.strictObject({
    type: z.enum(['prefix', 'exact', 'regex']),
    value: line(z.string().min(1)),
  }),
);

const HeaderMatchSchema = regexChecked(
  z.strictObject({
    name: z.string().regex(HEADER_NAME, 'header names are HTTP tokens (letters, digits and !#$%&\'*+.^_`|~-), e.g. X-Api-Version'),
    value: line(),
    type: z.enum(['exact', 'regex']).optional(),
  }),
);

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
      inbound_on_match: z.enum(INBOUND_ON_MATCH).optional(),
    })
    .optional(),
  git: z.strictObject({ fetch: z.boolean() }).optional(),
});

export const RepoSchema = z.strictObject({
  url: line(z.string().min(1)),
  identity: line(z.string().min(1)),
  host_key: line(z.string().min(1)),
  branches: z.array(line(z.string().min(1))).optional(),
});

/**
 * Egress matches a host to one route (first wins), so a second route for the
 * same host would be silently ignored: merge them instead.
 */
const RoutesSchema = z.array(RouteSchema).check((ctx) => {
  const first = new Map<string, number>();
  for (const [i, route] of ctx.value.entries()) {
    const seen = first.get(route.host);
    if (seen === undefined) {
      first.set(route.host, i);
      continue;
    }
    ctx.issues.push({
      code: 'custom',
      message: `a second route for ${route.host} (the first is egress.routes[${seen}]): egress uses one route per host, so merge their \`matches\` into one route`,
      path: [i, 'host'],
      input: ctx.value,
    });
  }
});

export const PROVIDER_TEMPLATES = ['shell', 'claude', 'codex'] as const;
export type ProviderTemplate = (typeof PROVIDER_TEMPLATES)[number];

export const AgentProviderSchema = z
  .strictObject({
    template: z.enum(PROVIDER_TEMPLATES).optional(),
    dockerfile: line(z.string().min(1)).optional(),
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
  extends: name('bottle', BOTTLE_FIX).optional(),
  env: EnvSchema.optional(),
  agent_provider: AgentProviderSchema.optional(),
  egress: z.strictObject({ routes: RoutesSchema.optional() }).optional(),
  'git-gate': z
    .strictObject({
      user: GitUserSchema.optional(),
      repos: z
        .record(
          name('repo', 'the repo name is the folder the gate serves it under, e.g. `app`').refine((n) => !n.endsWith('.git'), 'repo names must not end in ".git" (the gate adds it)'),
          RepoSchema,
        )
        .optional(),
    })
    .optional(),
});

/** A model name or alias as the agent program takes it (`sonnet`, `claude-sonnet-4-5`, `gpt-5-codex`); `inherit` = the program's default. */
const MODEL = /^[A-Za-z0-9][A-Za-z0-9._:@[\]/-]{0,127}$/;

export const AgentSchema = z.strictObject({
  bottle: name('bottle', BOTTLE_FIX).optional(),
  skills: z.array(name('skill', 'a skill is named by its folder in ~/.claude/skills (e.g. `pdf`)')).optional(),
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
export type GitUser = z.infer<typeof GitUserSchema>;
