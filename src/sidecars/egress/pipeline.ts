import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import type { Finding } from '../../dlp/index.js';
import type { AuditFinding } from './audit.js';
import { describe, toAudit, type DlpPolicy } from './dlp-policy.js';
import { stripQuery } from './audit.js';
import { overrideRefusal } from './method-override.js';
import { decodedReading, dotSegmentReading } from './path-normal.js';
import { heldValue } from './held-value.js';
import { ResolveError, type Resolved, type Resolver } from './resolve.js';
import { findRoute, routeAllows, type CompiledRoute, type RouteTable } from './routes.js';
import { ALLOW, block, type Verdict } from './verdict.js';
import { authHeaderName, authHeaderValue } from '../../routes/model.js';

/** What the CONNECT established, for requests inside a bumped tunnel. */
export interface Tunnel {
  host: string;
  port: number;
  /** SNI the client sent, lower-cased; undefined when it sent none. */
  sni: string | undefined;
}

export interface RequestContext {
  method: string;
  scheme: 'http' | 'https';
  host: string;
  port: number;
  /** Path plus query, as sent upstream (redaction may rewrite it). */
  path: string;
  /** Incoming headers; stages read them and build `outHeaders`. */
  inHeaders: IncomingHttpHeaders;
  /** Names and values as the client sent them (node lower-cases `inHeaders`' names). */
  rawHeaders: readonly string[];
  outHeaders: Record<string, string | string[]>;
  tunnel: Tunnel | undefined;
  table: RouteTable;
  route?: CompiledRoute;
  resolved?: Resolved;
  findings: AuditFinding[];
  /** Host and path for the audit line and supervise proposals when DLP found something in them (secrets replaced). */
  scrubbed?: { host?: string; path?: string };
  redacted: boolean;
  signal: AbortSignal;
}

export interface Stage {
  name: string;
  run(ctx: RequestContext): Verdict | Promise<Verdict>;
}

export interface PipelineDeps {
  dlp: DlpPolicy;
  resolver: Resolver;
  env: NodeJS.ProcessEnv;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'host',
]);

const CTL = /[\r\n\0]/;

/** Splits an absolute-form or authority target. Returns undefined on anything malformed. */
export function parseAuthority(authority: string, defaultPort: number): { host: string; port: number } | undefined {
  let m = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(authority);
  if (!m) m = /^([A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(authority);
  if (!m) return undefined;
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host: m[1]!.toLowerCase().replace(/\.$/, ''), port };
}

/** The ordered request pipeline (pipelock style): each stage allows or blocks with a reason. */
export function buildStages(deps: PipelineDeps): Stage[] {
  return [
    {
      name: 'parse',
      run(ctx) {
        const h = ctx.inHeaders;
        if (h['content-length'] !== undefined && h['transfer-encoding'] !== undefined) {
          return block('parse', 'ambiguous request: both Content-Length and Transfer-Encoding are set', 400, false);
        }
        const te = h['transfer-encoding'];
        if (te !== undefined && te.toLowerCase() !== 'chunked') {
          return block('parse', `unsupported Transfer-Encoding ${JSON.stringify(te)}`, 400, false);
        }
        for (const name in h) {
          const value = h[name];
          if (typeof value === 'string' ? CTL.test(value) : value?.some((v) => CTL.test(v))) {
            return block('parse', `CR/LF/NUL in the value of header ${name}`, 400, false);
          }
        }
        if (!ctx.path.startsWith('/')) return block('parse', 'request target is not a path', 400, false);
        return ALLOW;
      },
    },
    {
      name: 'destination',
      run(ctx) {
        if (isIP(ctx.host) !== 0) {
          return block('destination', `IP-literal destination ${ctx.host} is not allowed; use a routed host name`);
        }
        return ALLOW;
      },
    },
    {
      name: 'route',
      run(ctx) {
        const route = findRoute(ctx.table, ctx.host);
        if (!route) return block('route', `host ${ctx.host} is not in this bottle's egress routes`);
        ctx.route = route;
        if (ctx.port !== route.plan.port) {
          return block('route', `port ${ctx.port} is not allowed for ${ctx.host}; its route allows only port ${route.plan.port}`, 403, true, portHint(ctx.host, route.plan.port));
        }
        return ALLOW;
      },
    },
    {
      name: 'fronting',
      run(ctx) {
        const hostHeader = ctx.inHeaders.host;
        if (hostHeader !== undefined) {
          const a = parseAuthority(hostHeader, ctx.port);
          if (!a || a.host !== ctx.host || a.port !== ctx.port) {
            return block('fronting', `Host header ${JSON.stringify(hostHeader)} differs from the target ${ctx.host}:${ctx.port}`, 403, false);
          }
        }
        const t = ctx.tunnel;
        if (t && t.sni !== undefined && t.sni !== t.host) {
          return block('fronting', `TLS SNI ${t.sni} differs from the CONNECT target ${t.host}`, 403, false);
        }
        return ALLOW;
      },
    },
    {
      name: 'scheme',
      run(ctx) {
        if (ctx.scheme === 'http' && ctx.route?.plan.auth) {
          return block('scheme', `${ctx.host} has an injected credential; it is never sent over plain http: use https://`, 403, false);
        }
        return ALLOW;
      },
    },
    {
      name: 'path',
      run(ctx) {
        if (!ctx.route?.matches.some((m) => m.paths.length > 0)) return ALLOW;
        const pathOnly = ctx.path.split('?', 1)[0]!;
        const normal = dotSegmentReading(pathOnly);
        if (normal === undefined) return ALLOW;
        return block(
          'path',
          `path ${JSON.stringify(pathOnly)} has dot segments (read as a server does, it is ${JSON.stringify(normal)}); ${ctx.host} has path rules, so only paths already in normal form are sent: send ${JSON.stringify(normal)} itself`,
          403,
          false,
        );
      },
    },
    {
      name: 'git',
      run(ctx) {
        // Decoded: a server routes `git-receive%2Dpack` to receive-pack.
        const p = decodedReading(ctx.path).toLowerCase();
        if (p.includes('git-receive-pack')) {
          return block('git', 'git push over HTTP(S) is never allowed through egress; push through git-gate', 403, false);
        }
        if (p.includes('git-upload-pack') && !ctx.route?.plan.gitFetch) {
          return block('git', `git clone/fetch over HTTPS from ${ctx.host} is off for this route (gitFetch: false)`);
        }
        return ALLOW;
      },
    },
    {
      name: 'matches',
      run(ctx) {
        if (ctx.route && !routeAllows(ctx.route, ctx.method, ctx.path, ctx.inHeaders)) {
          return block('matches', `${ctx.method} ${ctx.path.split('?')[0]} does not match any of the route's matches for ${ctx.host}`);
        }
        const override = ctx.route && overrideRefusal(ctx.route, ctx.path, ctx.inHeaders);
        if (override) return block('matches', `${override} (${ctx.host})`, 403, false);
        return ALLOW;
      },
    },
    { name: 'outbound-dlp', run: (ctx) => outboundHeadDlp(ctx, deps.dlp) },
    {
      name: 'token',
      run(ctx) {
        const auth = ctx.route?.plan.auth;
        const out: Record<string, string | string[]> = {};
        const conn = ctx.inHeaders.connection;
        const connectionListed = conn === undefined ? undefined : new Set(conn.split(',').map((s) => s.trim().toLowerCase()));
        const redacted = ctx.outHeaders;
        for (const name in ctx.inHeaders) {
          const value = ctx.inHeaders[name];
          if (value === undefined || HOP_BY_HOP.has(name) || connectionListed?.has(name)) continue;
          if (auth && name === authHeaderName(auth)) continue;
          // Redaction may have rewritten header values: keep those.
          out[name] = Object.hasOwn(redacted, name) ? redacted[name]! : value;
        }
        if (auth) {
          const token = deps.env[auth.tokenSlot];
          if (!token) {
            return block('token', `the credential for ${ctx.host} (${auth.tokenRef}, slot ${auth.tokenSlot}) is not set in the sidecar`, 502, false);
          }
          out[authHeaderName(auth)] = authHeaderValue(auth, token);
        }
        ctx.outHeaders = out;
        return ALLOW;
      },
    },
    {
      name: 'ssrf',
      run(ctx) {
        const cached = deps.resolver.peek(ctx.host, ctx.port);
        if (cached) {
          ctx.resolved = cached;
          return ALLOW;
        }
        return deps.resolver.resolve(ctx.host, ctx.port).then(
          (r) => {
            ctx.resolved = r;
            return ALLOW;
          },
          (err: unknown) => {
            if (err instanceof ResolveError) return block('ssrf', err.message);
            throw err;
          },
        );
      },
    },
  ];
}

/**
 * Run the stages in order until one refuses. Synchronous while every stage
 * answers synchronously (the common case: a cached DNS answer, no supervise
 * wait): no promise or microtask per stage on the hot path.
 */
export function runStagesFast(stages: readonly Stage[], ctx: RequestContext, from = 0): Verdict | Promise<Verdict> {
  for (let i = from; i < stages.length; i++) {
    const v = stages[i]!.run(ctx);
    if (v instanceof Promise) {
      return v.then((done) => (done.ok ? runStagesFast(stages, ctx, i + 1) : done));
    }
    if (!v.ok) return v;
  }
  return ALLOW;
}

function portHint(host: string, port: number): string {
  return `use port ${port}; \`egress-block\` asks for port 443, so a different port is the operator's edit: ask with ${JSON.stringify({ host, reason: '<why, and which port>' })}`;
}

/** DLP on the host, header names, the path+query and header values (before any credential is injected). */
function outboundHeadDlp(ctx: RequestContext, dlp: DlpPolicy): Verdict | Promise<Verdict> {
  const cfg = ctx.route?.plan.dlp;
  if (!cfg || cfg.outbound.length === 0) return ALLOW;
  // Header values and the path are the request's bytes, one char each: decoded views see their UTF-8.
  const scanner = dlp.bytesScanner(cfg.outbound);
  const auth = ctx.route?.plan.auth;
  // Objects are built only for parts with findings: most requests have none.
  let hits: HeadHit[] | undefined;
  let namesSeen: Finding[] | undefined;
  // A name with a finding is not repeated in the `where` of its value's findings (audit, block reasons).
  let withheld: Set<string> | undefined;
  const partName = (part: HeadPart): string => (part === PATH ? 'path' : withheld?.has(part as string) ? 'header:(name withheld)' : `header:${part as string}`);
  const check = (part: HeadPart, text: string): void => {
    const all = scanner.scan(text);
    if (all.length === 0) return;
    if (part === NAMES) {
      namesSeen = all;
      for (const f of all) ctx.findings.push(...toAudit([f], f.start < ctx.host.length ? 'host' : 'header name'));
    } else ctx.findings.push(...toAudit(all, partName(part)));
    const findings = dlp.blocking(all, (f) => text.slice(f.start, f.end), ctx.host);
    if (findings.length > 0) (hits ??= []).push({ part, where: part === NAMES ? namesWhere(findings, ctx.host.length) : partName(part), text, findings });
  };
  // The host and the header names as the client sent them, in one scan (one call
  // for both, as the host alone cost): a name carries data as well as a value
  // does, and node lower-cases req.headers' names, which hides a known secret
  // and its upper-case hex. Neither a host nor a name can be redacted.
  const raw = ctx.rawHeaders;
  let names = ctx.host;
  for (let i = 0; i < raw.length; i += 2) if (!COMMON_NAMES.has(raw[i]!)) names += `\n${raw[i]}`;
  check(NAMES, names);
  if (namesSeen) withheld = namesWithFindings(raw, ctx.host.length, namesSeen);
  check(PATH, ctx.path);
  for (const name in ctx.inHeaders) {
    const value = ctx.inHeaders[name];
    if (value === undefined || name === 'proxy-authorization' || name === 'host' || (auth && name === authHeaderName(auth))) continue;
    check(name, typeof value === 'string' ? value : value.join('\n'));
  }
  if (!hits) return ALLOW;
  const found = hits;
  const all = found.flatMap((h) => h.findings);
  const where = [...new Set(found.map((h) => h.where))].join(', ');
  // The audit line and a supervise proposal show the host and path with the secrets replaced.
  const scrub = (text: string): string => {
    const r = scanner.redact(text);
    return r.text === text || dlp.blocking(r.findings, () => undefined).length > 0 ? '[REDACTED]' : r.text;
  };
  for (const h of found) {
    if (h.part === PATH) (ctx.scrubbed ??= {}).path = stripQuery(scrub(ctx.path));
    else if (h.part === NAMES && h.findings.some((f) => f.start < ctx.host.length)) (ctx.scrubbed ??= {}).host = scrub(ctx.host);
  }
  switch (cfg.onMatch) {
    case 'block':
      return block('outbound-dlp', `${describe(all)} in ${where}`);
    case 'supervise': {
      // A proposal names the host it is for, and the approval is kept per host: a host that itself
      // carries a secret can be neither shown to the operator nor approved.
      if (ctx.scrubbed?.host !== undefined) return block('outbound-dlp', `${describe(all)} in the host; a host cannot be held for approval`);
      return dlp
        .supervise(found.flatMap((h) => h.findings.map((f) => heldValue(f, h.text, h.where, h.findings))), {
          host: ctx.host,
          method: ctx.method,
          path: ctx.scrubbed?.path?.split('?')[0] ?? ctx.path.split('?')[0] ?? '',
          signal: ctx.signal,
        })
        .then((b) => b ?? ALLOW);
    }
    case 'redact': {
      for (const h of found) {
        if (h.part === NAMES) return block('outbound-dlp', `${describe(h.findings)} in ${h.where}; a host or a header name cannot be redacted`);
        const { text, findings } = scanner.redact(h.text);
        if (dlp.blocking(findings, () => undefined).length > 0) {
          return block('outbound-dlp', `${describe(findings)} remains in ${h.where} after redaction`);
        }
        if (h.part === PATH) ctx.path = text;
        else ctx.outHeaders[h.part] = text;
      }
      ctx.redacted = true;
      return ALLOW;
    }
  }
}

/**
 * Header names spelled exactly as clients send them (curl and browsers in
 * Title-Case, undici and HTTP/2 stacks in lower case): such a name holds no
 * data, so it is not scanned, which keeps the names scan as cheap as the host's
 * alone for most requests (bench:egress). Any other spelling is scanned.
 */
const COMMON_NAMES: ReadonlySet<string> = new Set(
  [
    'Host', 'User-Agent', 'Accept', 'Accept-Encoding', 'Accept-Language', 'Authorization', 'Connection', 'Content-Type',
    'Content-Length', 'Transfer-Encoding', 'Cache-Control', 'Pragma', 'Cookie', 'Origin', 'Referer', 'Proxy-Authorization',
    'Proxy-Connection', 'Keep-Alive', 'Upgrade', 'Expect', 'TE', 'If-None-Match', 'If-Modified-Since', 'Range', 'Content-Encoding',
    'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'Sec-WebSocket-Protocol', 'Sec-WebSocket-Extensions', 'X-Request-Id',
    'Anthropic-Version', 'Anthropic-Beta', 'X-Api-Key', 'OpenAI-Organization', 'OpenAI-Beta',
  ].flatMap((n) => [n, n.toLowerCase()]),
);

/** The host and the header names (one text), the path, or a header value by its name. */
const NAMES = Symbol('names');
const PATH = Symbol('path');
type HeadPart = typeof NAMES | typeof PATH | string;

interface HeadHit {
  part: HeadPart;
  where: string;
  text: string;
  findings: Finding[];
}

function namesWhere(findings: Finding[], hostLength: number): string {
  const parts = new Set(findings.map((f) => (f.start < hostLength ? 'host' : 'header name')));
  return [...parts].join(', ');
}

/** Lower-cased names of the raw headers that findings in `host\nname1\nname2...` touch. */
function namesWithFindings(raw: readonly string[], hostLength: number, findings: Finding[]): Set<string> {
  const out = new Set<string>();
  let at = hostLength;
  for (let i = 0; i < raw.length; i += 2) {
    if (COMMON_NAMES.has(raw[i]!)) continue;
    const start = at + 1;
    const end = start + raw[i]!.length;
    if (findings.some((f) => f.start < end && start < f.end)) out.add(raw[i]!.toLowerCase());
    at = end;
  }
  return out;
}
