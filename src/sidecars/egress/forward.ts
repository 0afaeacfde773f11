import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { AuditRecord, AuditSink } from './audit.js';
import { stripQuery } from './audit.js';
import { BodyGate, toAudit, type DlpPolicy } from './dlp-policy.js';
import { runStages, type RequestContext, type Stage, type Tunnel } from './pipeline.js';
import type { RouteTable } from './routes.js';
import type { Upstream } from './upstream.js';
import { block, BlockError, sendBlock, type Block } from './verdict.js';

export interface ProxyCore {
  stages: readonly Stage[];
  agent: Upstream;
  dlp: DlpPolicy;
  audit: AuditSink;
  table(): RouteTable;
}

export interface Target {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  path: string;
  tunnel: Tunnel | undefined;
}

const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'proxy-authenticate', 'trailer', 'te']);
const TEXTUAL = /^(text\/|application\/(json|[a-z0-9.+-]*\+json|xml|[a-z0-9.+-]*\+xml|javascript|x-ndjson|x-www-form-urlencoded))/i;

/** One request through the pipeline: stages → (streamed, scanned) upstream → (streamed, scanned) response. */
export async function handleRequest(core: ProxyCore, req: IncomingMessage, res: ServerResponse, t: Target): Promise<void> {
  const started = performance.now();
  const ac = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) ac.abort(new Error('client closed the connection'));
  });
  const ctx: RequestContext = {
    method: req.method ?? 'GET',
    scheme: t.scheme,
    host: t.host,
    port: t.port,
    path: t.path,
    inHeaders: req.headers,
    outHeaders: {},
    tunnel: t.tunnel,
    table: core.table(),
    findings: [],
    redacted: false,
    signal: ac.signal,
  };
  const what = { method: ctx.method, host: ctx.host, path: stripQuery(t.path) };
  const audit = (r: Pick<AuditRecord, 'decision'> & Partial<AuditRecord>): void =>
    core.audit({
      ...what,
      route: ctx.route?.plan.host ?? null,
      ...(ctx.findings.length > 0 ? { findings: ctx.findings } : {}),
      ms: Math.round((performance.now() - started) * 100) / 100,
      ...r,
    });
  const refuse = (b: Block): void => {
    sendBlock(res, b, what);
    // Drain what the client still sends so keep-alive survives a refused upload.
    req.resume();
    audit({ decision: 'block', status: b.status, stage: b.stage, reason: b.reason });
  };

  let verdict;
  try {
    verdict = await runStages(core.stages, ctx);
  } catch (err) {
    verdict = block('internal', `egress failed closed: ${(err as Error).message}`, 500, false);
  }
  if (!verdict.ok) return refuse(verdict);
  const route = ctx.route!;
  const dlpCfg = route.plan.dlp;

  const hasBody =
    req.headers['transfer-encoding'] !== undefined ||
    (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
  let body: Readable | Buffer | null = req.headers['content-length'] === '0' ? Buffer.alloc(0) : null;
  let gate: BodyGate | undefined;
  let gateBlock: Block | undefined;
  if (hasBody) {
    const enc = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (dlpCfg.outbound.length === 0) {
      body = req;
    } else if (enc !== 'identity') {
      return refuse(block('outbound-dlp', `request body has Content-Encoding ${enc}, which outbound DLP cannot scan; send it uncompressed`, 403, false));
    } else {
      const g = new BodyGate(core.dlp, dlpCfg, core.dlp.streamScanner(dlpCfg.outbound), {
        host: ctx.host,
        method: ctx.method,
        path: what.path,
        signal: ac.signal,
      });
      gate = g;
      body = Readable.from(
        (async function* () {
          try {
            for await (const chunk of req as AsyncIterable<Buffer>) {
              const out = await g.push(chunk);
              if (out.length > 0) yield out;
            }
            const rest = await g.end();
            if (rest.length > 0) yield rest;
          } catch (err) {
            if (err instanceof BlockError) gateBlock = err.verdict;
            throw err;
          }
        })(),
        { objectMode: false },
      );
    }
  }
  const scanInbound = dlpCfg.inbound.length > 0;
  // Scanning needs plain text: ask for it rather than decoding compressed responses.
  if (scanInbound) ctx.outHeaders['accept-encoding'] = 'identity';

  let up;
  try {
    up = await core.agent.request({
      origin: `${ctx.scheme}://${ctx.host}:${ctx.port}`,
      path: ctx.path,
      method: ctx.method,
      headers: ctx.outHeaders,
      body,
      signal: ac.signal,
    });
  } catch (err) {
    ctx.findings.push(...(gate?.findings ?? []));
    if (gateBlock || err instanceof BlockError) return refuse(gateBlock ?? (err as BlockError).verdict);
    if (ac.signal.aborted) return audit({ decision: 'error', reason: 'client closed the connection' });
    return refuse(block('upstream', `upstream ${ctx.host}:${ctx.port} failed: ${errText(err)}`, 502, false));
  }
  ctx.findings.push(...(gate?.findings ?? []));

  const headers: Record<string, string | string[]> = {};
  const listed = new Set(String(up.headers.connection ?? '').split(',').map((s) => s.trim().toLowerCase()));
  for (const [k, v] of Object.entries(up.headers)) {
    if (v !== undefined && !RESPONSE_HOP_BY_HOP.has(k) && !listed.has(k)) headers[k] = v;
  }
  const ctype = String(up.headers['content-type'] ?? '');
  const cenc = String(up.headers['content-encoding'] ?? 'identity').toLowerCase();
  const scanner = scanInbound && TEXTUAL.test(ctype) ? core.dlp.streamScanner(dlpCfg.inbound) : undefined;
  if (scanner && cenc !== 'identity') {
    up.body.destroy();
    return refuse(block('inbound-dlp', `upstream sent a ${cenc}-encoded response that inbound DLP cannot scan`, 502, false));
  }
  res.writeHead(up.statusCode, headers);
  // Streamed responses (SSE, chunked) show their headers at once; fixed-length ones
  // go out with the first body chunk (one TLS record instead of two).
  if (up.headers['content-length'] === undefined) res.flushHeaders();
  const decoder = new StringDecoder('utf8');
  try {
    for await (const chunk of up.body as AsyncIterable<Buffer>) {
      if (scanner) {
        const found = scanner.push(decoder.write(chunk));
        if (found.length > 0) {
          ctx.findings.push(...toAudit(found, 'response'));
          if (found.some((f) => f.severity === 'block')) {
            // Headers are gone: the only safe answer is to cut the stream.
            up.body.destroy();
            res.destroy();
            return audit({ decision: 'terminated', status: up.statusCode, stage: 'inbound-dlp', reason: 'inbound DLP found a high-confidence injection in the response' });
          }
        }
      }
      if (!res.write(chunk)) await drained(res);
    }
    if (scanner) {
      const found = scanner.end();
      ctx.findings.push(...toAudit(found, 'response'));
      if (found.some((f) => f.severity === 'block')) {
        res.destroy();
        return audit({ decision: 'terminated', status: up.statusCode, stage: 'inbound-dlp', reason: 'inbound DLP found a high-confidence injection at the end of the response' });
      }
    }
    res.end();
    audit({ decision: ctx.redacted || gate?.redacted ? 'redact' : 'allow', status: up.statusCode });
  } catch (err) {
    res.destroy();
    audit({ decision: 'error', status: up.statusCode, reason: `response stream failed: ${errText(err)}` });
  }
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', closed);
      resolve();
    };
    const closed = (): void => {
      res.off('drain', done);
      reject(new Error('client closed the connection'));
    };
    res.on('drain', done);
    res.once('close', closed);
  });
}

export function errText(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const parts = [e.code, e.message, e.cause?.code, e.cause?.message].filter((x): x is string => typeof x === 'string' && x.length > 0);
  return [...new Set(parts)].join(': ') || String(err);
}
