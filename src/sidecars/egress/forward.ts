import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { AuditRecord, AuditSink } from './audit.js';
import { AUDIT_STAGE, stripQuery } from './audit.js';
import { BodyGate, primeGatedBody } from './body-gate.js';
import { toAudit, type DlpPolicy } from './dlp-policy.js';
import type { Dispatcher } from 'undici';
import type { Finding, StreamScanner } from '../../dlp/index.js';
import type { RouteDlp } from '../../routes/model.js';
import { runStagesFast, type RequestContext, type Stage, type Tunnel } from './pipeline.js';
import { ExchangeContext } from './exchange-context.js';
import { relayedBytes } from './reclaim.js';
import type { RouteTable } from './routes.js';
import type { Upstream } from './upstream.js';
import { block, BlockError, sendBlock, type Block, type Verdict } from './verdict.js';

export interface ProxyCore {
  stages: readonly Stage[];
  agent: Upstream;
  dlp: DlpPolicy;
  audit: AuditSink;
  /** Set while audit lines cannot be written: every request is then refused (503) with this reason. */
  auditDown(): string | undefined;
  table(): RouteTable;
  /** How long an upstream may take to send response headers (UPSTREAM_HEADERS_TIMEOUT_MS by default). */
  upstreamHeadersTimeoutMs: number;
}

export interface Target {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  path: string;
  tunnel: Tunnel | undefined;
}

/**
 * How long the upstream may take to answer with headers once the request has
 * been sent; EGRESS_UPSTREAM_HEADERS_TIMEOUT_SECONDS in the sidecar env.
 * Long enough for a model that thinks before its first token.
 */
export const UPSTREAM_HEADERS_TIMEOUT_MS = 300_000;

/**
 * How much of a scanned request body is read (and scanned) before the upstream
 * request starts: a finding in it is decided, and the request held for the
 * operator, before any upstream connection is taken. A model request carries
 * the whole conversation; this covers all but long ones. The client's own
 * buffers are held, at most this much per request and only until the first
 * release: 256 KiB added ~1.5 MB to the bench's peak RSS, 1 MiB ~4.5 MB
 * (docs/performance.md, session 7).
 */
export const DISPATCH_AFTER_BYTES = 256 * 1024;

/** The upstream did not send response headers in time. */
class HeadersTimeout extends Error {}

const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'proxy-authenticate', 'trailer', 'te']);
const TEXTUAL = /^(text\/|application\/(json|[a-z0-9.+-]*\+json|xml|[a-z0-9.+-]*\+xml|javascript|x-ndjson|x-www-form-urlencoded))/i;

/** One request through the pipeline: stages → (streamed, scanned) upstream → (streamed, scanned) response. */
export function handleRequest(core: ProxyCore, req: IncomingMessage, res: ServerResponse, t: Target): Promise<void> {
  const x = new Exchange(core, req, res, t);
  const auditDown = core.auditDown();
  if (auditDown !== undefined) {
    x.proceed(block(AUDIT_STAGE, auditDown, 503, false));
    return DONE;
  }
  let v;
  try {
    v = runStagesFast(core.stages, x.ctx);
  } catch (err) {
    v = internal(err);
  }
  if (v instanceof Promise) return v.then((verdict) => x.proceed(verdict), (err: unknown) => x.proceed(internal(err)));
  x.proceed(v);
  return DONE;
}

const DONE = Promise.resolve();

function internal(err: unknown): Block {
  return block('internal', `egress failed closed: ${(err as Error).message}`, 500, false);
}

/**
 * One proxied exchange. It is undici's dispatch handler itself: the response
 * arrives as callbacks (no promise, body stream or async iterator per request),
 * and backpressure from the client pauses the upstream read.
 */
class Exchange implements Dispatcher.DispatchHandler {
  readonly ctx: RequestContext;
  private readonly started = performance.now();
  /** Created on first use (supervise waits, body gates): most requests never need one. */
  private ac: AbortController | undefined;
  private closed: Error | undefined;
  private readonly what: { method: string; host: string; path: string };
  private controller: Dispatcher.DispatchController | undefined;
  private gate: BodyGate | undefined;
  private gateBlock: Block | undefined;
  private scanner: StreamScanner | undefined;
  private decoder: StringDecoder | undefined;
  private status = 0;
  /** Response headers went to the client. */
  private responding = false;
  /** Inbound DLP found something this route only reports. */
  private reported = false;
  /** The exchange was answered, cut or audited: later callbacks from undici are ignored. */
  private finished = false;
  /**
   * Ours, not undici's: undici arms a "fast timer" per request that stays
   * referenced for up to a second after it is cleared, so under load every
   * request left one in the old generation (~1 MB/s of garbage, the heap
   * growing between full GCs; docs/performance.md). A native timer dies young.
   */
  private headersTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly core: ProxyCore,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    t: Target,
  ) {
    this.ctx = new ExchangeContext(req, t, core.table(), this);
    this.what = { method: this.ctx.method, host: t.host, path: stripQuery(t.path) };
    res.on('close', this.onClientClose);
  }

  signal(): AbortSignal {
    this.ac ??= new AbortController();
    if (this.closed && !this.ac.signal.aborted) this.ac.abort(this.closed);
    return this.ac.signal;
  }

  private onClientClose = (): void => {
    if (this.res.writableFinished) return;
    const reason = new Error('client closed the connection');
    this.closed = reason;
    this.ac?.abort(reason);
    this.controller?.abort(reason);
  };

  private audit(r: Pick<AuditRecord, 'decision'> & Partial<AuditRecord>): void {
    const { ctx, what } = this;
    // Named fields, not spreads: this runs once per request (undefined ones are left out of the JSON line).
    this.core.audit({
      method: what.method,
      host: ctx.scrubbed?.host ?? what.host,
      path: ctx.scrubbed?.path ?? what.path,
      route: ctx.route?.plan.host ?? null,
      decision: r.decision,
      status: r.status,
      stage: r.stage,
      reason: r.reason,
      findings: ctx.findings.length > 0 ? ctx.findings : undefined,
      ms: Math.round((performance.now() - this.started) * 100) / 100,
    });
  }

  private refuse(b: Block): void {
    this.disarmHeadersTimer();
    this.finished = true;
    sendBlock(this.res, b, this.what);
    // Drain what the client still sends so keep-alive survives a refused upload.
    this.req.resume();
    this.audit({ decision: 'block', status: b.status, stage: b.stage, reason: b.reason });
  }

  proceed(verdict: Verdict): void {
    if (!verdict.ok) return this.refuse(verdict);
    const { ctx, req } = this;
    const dlpCfg = ctx.route!.plan.dlp;
    const h = req.headers;
    const hasBody = h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
    let body: Readable | Buffer | AsyncIterable<Buffer> | null = h['content-length'] === '0' ? EMPTY : null;
    if (hasBody) {
      const enc = (h['content-encoding'] ?? 'identity').toLowerCase();
      if (dlpCfg.outbound.length === 0) {
        body = req;
      } else if (enc !== 'identity') {
        return this.refuse(block('outbound-dlp', `request body has Content-Encoding ${enc}, which outbound DLP cannot scan; send it uncompressed`, 403, false));
      } else {
        return this.primeThenDispatch(dlpCfg);
      }
    }
    this.dispatch(body);
  }

  private dispatch(body: Readable | Buffer | AsyncIterable<Buffer> | null): void {
    const { ctx, req } = this;
    // Scanning needs plain text: ask for it rather than decoding compressed responses.
    if (ctx.route!.plan.dlp.inbound.length > 0) ctx.outHeaders['accept-encoding'] = 'identity';
    if (this.closed) {
      this.finished = true;
      return this.audit({ decision: 'error', reason: 'client closed the connection' });
    }
    // The wait for headers starts once the client's request has arrived whole (an upload may take long).
    if (req.complete) this.armHeadersTimer();
    else req.once('end', this.armHeadersTimer);
    this.core.agent.dispatch(
      { origin: `${ctx.scheme}://${ctx.host}:${ctx.port}`, path: ctx.path, method: ctx.method, headers: ctx.outHeaders, body },
      this,
    );
  }

  /**
   * A scanned body: the upstream request starts once the gate has released its
   * first bytes (primeGatedBody), so a request held for the operator holds no
   * upstream connection, and a blocked one never opens one.
   */
  private primeThenDispatch(dlpCfg: RouteDlp): void {
    const g = new BodyGate(
      this.core.dlp,
      dlpCfg,
      this.core.dlp.bodyStreamScanner(dlpCfg.outbound),
      // A host with a finding never gets this far (the head stage refused it); the path is shown scrubbed.
      { host: this.ctx.host, method: this.ctx.method, path: this.ctx.scrubbed?.path ?? this.what.path, signal: this.signal() },
      DISPATCH_AFTER_BYTES,
    );
    this.gate = g;
    primeGatedBody(this.req, g, (b) => {
      this.gateBlock = b;
    }).then(
      (primed) => {
        if (this.closed) primed.abandon();
        this.dispatch(primed.body);
      },
      (err: unknown) => {
        this.takeGateFindings();
        if (this.closed) {
          this.finished = true;
          return this.audit({ decision: 'error', reason: 'client closed the connection' });
        }
        this.refuse(this.gateBlock ?? (err instanceof BlockError ? err.verdict : block('parse', `reading the request body failed: ${errText(err)}`, 400, false)));
      },
    );
  }

  private gateFindingsTaken = false;

  private takeGateFindings(): void {
    if (this.gate && !this.gateFindingsTaken) this.ctx.findings.push(...this.gate.findings);
    this.gateFindingsTaken = true;
  }

  private armHeadersTimer = (): void => {
    if (this.finished || this.responding || this.headersTimer) return;
    this.headersTimer = setTimeout(this.onHeadersTimeout, this.core.upstreamHeadersTimeoutMs);
    this.headersTimer.unref();
  };

  private onHeadersTimeout = (): void => {
    const err = new HeadersTimeout(`no response headers within ${Math.round(this.core.upstreamHeadersTimeoutMs / 1000)} s`);
    if (this.controller) this.controller.abort(err);
    else this.refuse(this.headersTimeoutBlock(err));
  };

  private headersTimeoutBlock(err: HeadersTimeout): Block {
    return block('upstream', `upstream ${this.ctx.host}:${this.ctx.port} sent ${err.message}`, 504, false);
  }

  private disarmHeadersTimer(): void {
    if (this.headersTimer) clearTimeout(this.headersTimer);
    this.headersTimer = undefined;
    this.req.off('end', this.armHeadersTimer);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.closed) controller.abort(this.closed);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, upHeaders: IncomingHttpHeaders): void {
    // 1xx informational answers are not relayed (as undici's request() did).
    if (this.finished || statusCode < 200) return;
    this.disarmHeadersTimer();
    this.takeGateFindings();
    const { res } = this;
    const dlpCfg = this.ctx.route!.plan.dlp;
    const headers: Record<string, string | string[]> = {};
    const conn = upHeaders.connection;
    const listed = conn === undefined ? undefined : new Set(String(conn).split(',').map((s) => s.trim().toLowerCase()));
    for (const k in upHeaders) {
      const v = upHeaders[k];
      if (v !== undefined && !RESPONSE_HOP_BY_HOP.has(k) && !listed?.has(k)) headers[k] = v;
    }
    if (dlpCfg.inbound.length > 0 && TEXTUAL.test(String(upHeaders['content-type'] ?? ''))) {
      const cenc = String(upHeaders['content-encoding'] ?? 'identity').toLowerCase();
      if (cenc !== 'identity') {
        this.refuse(block('inbound-dlp', `upstream sent a ${cenc}-encoded response that inbound DLP cannot scan`, 502, false));
        controller.abort(new Error('refused by inbound DLP'));
        return;
      }
      this.scanner = this.core.dlp.streamScanner(dlpCfg.inbound);
      this.decoder = new StringDecoder('utf8');
    }
    this.status = statusCode;
    this.responding = true;
    res.writeHead(statusCode, headers);
    // Streamed responses (SSE, chunked) show their headers at once; fixed-length ones
    // go out with the first body chunk (one TLS record instead of two).
    if (upHeaders['content-length'] === undefined) res.flushHeaders();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.finished) return;
    relayedBytes(chunk.length);
    if (this.scanner && this.inboundBlocks(this.scanner.push(this.decoder!.write(chunk)))) {
      // Headers are gone: the only safe answer is to cut the stream.
      this.terminate(controller, 'inbound DLP found a high-confidence injection in the response');
      return;
    }
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(controller: Dispatcher.DispatchController): void {
    if (this.finished) return;
    if (this.scanner && this.inboundBlocks(this.scanner.end())) {
      this.terminate(controller, 'inbound DLP found a high-confidence injection at the end of the response');
      return;
    }
    this.finished = true;
    this.res.end();
    this.audit({
      decision: this.ctx.redacted || this.gate?.redacted ? 'redact' : 'allow',
      status: this.status,
      stage: this.reported ? 'inbound-dlp' : undefined,
      reason: this.reported ? REPORTED : undefined,
    });
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.disarmHeadersTimer();
    if (this.finished) return;
    if (!this.responding) {
      const gateBlock = this.gateBlock;
      this.takeGateFindings();
      if (gateBlock || err instanceof BlockError) return this.refuse(gateBlock ?? (err as BlockError).verdict);
      if (this.closed) {
        this.finished = true;
        return this.audit({ decision: 'error', reason: 'client closed the connection' });
      }
      if (err instanceof HeadersTimeout) return this.refuse(this.headersTimeoutBlock(err));
      return this.refuse(block('upstream', `upstream ${this.ctx.host}:${this.ctx.port} failed: ${errText(err)}`, 502, false));
    }
    this.finished = true;
    this.res.destroy();
    this.audit({ decision: 'error', status: this.status, reason: `response stream failed: ${errText(err)}` });
  }

  private inboundBlocks(found: Finding[]): boolean {
    if (found.length === 0) return false;
    this.ctx.findings.push(...toAudit(found, 'response'));
    if (!found.some((f) => f.severity === 'block')) return false;
    // A model API's reply (provider routes): recorded in the audit line, never cut.
    if (this.ctx.route!.plan.dlp.inboundOnMatch === 'report') {
      this.reported = true;
      return false;
    }
    return true;
  }

  private terminate(controller: Dispatcher.DispatchController, reason: string): void {
    this.finished = true;
    controller.abort(new Error(reason));
    this.res.destroy();
    this.audit({ decision: 'terminated', status: this.status, stage: 'inbound-dlp', reason });
  }
}

const EMPTY = Buffer.alloc(0);
const REPORTED = 'inbound DLP found a high-confidence injection; this route reports it instead of cutting the response (dlp.inboundOnMatch: report)';

export function errText(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const parts = [e.code, e.message, e.cause?.code, e.cause?.message].filter((x): x is string => typeof x === 'string' && x.length > 0);
  return [...new Set(parts)].join(': ') || String(err);
}
