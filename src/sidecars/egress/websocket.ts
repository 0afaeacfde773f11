import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { AuditRecord } from './audit.js';
import { AUDIT_STAGE, stripQuery } from './audit.js';
import { describe, toAudit } from './dlp-policy.js';
import { errText, type ProxyCore, type Target } from './forward.js';
import { ExchangeContext } from './exchange-context.js';
import { parseAuthority, runStagesFast, type RequestContext, type Tunnel } from './pipeline.js';
import { block, blockBody, rawResponse, type Block } from './verdict.js';
import { CLOSE_POLICY_VIOLATION, closeFrame, WsCloseError } from './websocket-frames.js';
import { ClientFrameFilter, WsDlpError } from './websocket-scan.js';

export interface WebSocketDeps {
  maxMessageBytes?: number;
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable' };

/**
 * One WebSocket upgrade: the same request pipeline as any request (route,
 * matches, fronting, git, head DLP, token injection, SSRF), then a relay
 * whose client-to-upstream frames go through outbound DLP.
 */
export async function handleUpgrade(core: ProxyCore, deps: WebSocketDeps, req: IncomingMessage, client: Duplex, head: Buffer, t: Target): Promise<void> {
  const started = performance.now();
  // Nothing is read from the client until the upstream has answered 101.
  client.pause();
  const ac = new AbortController();
  client.on('error', () => client.destroy());
  client.once('close', () => ac.abort(new Error('client closed the connection')));
  const ctx: RequestContext = new ExchangeContext(req, t, core.table(), { signal: () => ac.signal });
  const what = { method: ctx.method, host: ctx.host, path: stripQuery(t.path) };
  const audit = (r: Pick<AuditRecord, 'decision'> & Partial<AuditRecord>): void =>
    core.audit({
      ...what,
      ...ctx.scrubbed,
      route: ctx.route?.plan.host ?? null,
      ...(ctx.findings.length > 0 ? { findings: ctx.findings } : {}),
      ms: Math.round((performance.now() - started) * 100) / 100,
      ...r,
    });
  const refuse = (b: Block): void => {
    client.end(rawResponse(b.status, STATUS_TEXT[b.status] ?? 'Forbidden', blockBody(b, what)));
    audit({ decision: 'block', status: b.status, stage: b.stage, reason: b.reason });
  };

  if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket' || ctx.method !== 'GET') {
    return refuse(block('upgrade', `only WebSocket upgrades (GET with Upgrade: websocket) are relayed, not ${ctx.method} Upgrade: ${String(req.headers.upgrade)}`, 403, false));
  }
  const auditDown = core.auditDown();
  if (auditDown !== undefined) return refuse(block(AUDIT_STAGE, auditDown, 503, false));
  let verdict;
  try {
    verdict = await runStagesFast(core.stages, ctx);
  } catch (err) {
    verdict = block('internal', `egress failed closed: ${(err as Error).message}`, 500, false);
  }
  if (!verdict.ok) return refuse(verdict);
  const route = ctx.route!;
  if (ctx.redacted) {
    // A redacted upgrade would open a channel whose later messages cannot be redacted either (see below).
    return refuse(block('outbound-dlp', 'outbound DLP matched the upgrade request; a WebSocket upgrade is never redacted, so it is refused', 403));
  }

  const headers: Record<string, string | string[]> = { ...ctx.outHeaders };
  // The token stage drops hop-by-hop headers; an upgrade needs these two back.
  headers.connection = 'Upgrade';
  headers.upgrade = 'websocket';
  // No extensions: permessage-deflate would compress the payloads the scanner must read.
  delete headers['sec-websocket-extensions'];
  headers.host = ctx.port === (ctx.scheme === 'https' ? 443 : 80) ? ctx.host : `${ctx.host}:${ctx.port}`;

  let upSock: Socket | TLSSocket;
  try {
    upSock = await new Promise<Socket | TLSSocket>((resolve, reject) =>
      // The requests' own upstream client: the same trust, session cache and connections opened ahead.
      core.agent.connect(`${ctx.scheme}:`, ctx.host, ctx.port, (err, s) => (err || !s ? reject(err ?? new Error('no socket')) : resolve(s))),
    );
  } catch (err) {
    return refuse(block('upstream', `upstream ${ctx.host}:${ctx.port} failed: ${errText(err)}`, 502, false));
  }
  if (ac.signal.aborted) {
    upSock.destroy();
    return audit({ decision: 'error', reason: 'client closed the connection' });
  }

  const upReq = httpRequest({ createConnection: () => upSock, method: 'GET', path: ctx.path, headers, setHost: false });
  const onClientGone = (): void => {
    upReq.destroy();
    upSock.destroy();
  };
  client.once('close', onClientGone);
  upReq.on('error', (err) => {
    client.off('close', onClientGone);
    if (!client.destroyed) refuse(block('upstream', `upstream ${ctx.host}:${ctx.port} failed: ${errText(err)}`, 502, false));
  });
  upReq.on('response', (res) => {
    // Not upgraded (401, 404...): pass the answer on and close; the body is delimited by the close.
    const lines = [`HTTP/1.1 ${res.statusCode ?? 502} ${res.statusMessage ?? ''}`];
    for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
      const name = res.rawHeaders[i]!.toLowerCase();
      if (name !== 'connection' && name !== 'transfer-encoding' && name !== 'content-length' && name !== 'keep-alive') lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
    }
    lines.push('connection: close', '', '');
    client.write(lines.join('\r\n'));
    res.pipe(client);
    audit({ decision: 'allow', status: res.statusCode ?? 0, reason: 'upstream did not upgrade the connection' });
  });
  upReq.on('upgrade', (res, up: Duplex, upHead: Buffer) => {
    if (String(res.headers.upgrade ?? '').toLowerCase() !== 'websocket' || res.headers['sec-websocket-extensions'] !== undefined) {
      up.destroy();
      return refuse(block('upstream', `upstream ${ctx.host} answered 101 without a plain WebSocket upgrade (extensions are not allowed: frames must stay scannable)`, 502, false));
    }
    const lines = [`HTTP/1.1 101 ${res.statusMessage ?? 'Switching Protocols'}`];
    for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
    lines.push('', '');
    client.write(lines.join('\r\n'));
    if (upHead.length > 0) client.write(upHead);
    audit({ decision: 'allow', status: 101 });
    relay(core, deps, ctx, route.plan.dlp.onMatch, client, up, head, audit);
  });
  upReq.end();
}

/** Both directions after the 101; client frames through the DLP filter. */
function relay(
  core: ProxyCore,
  deps: WebSocketDeps,
  ctx: RequestContext,
  onMatch: 'block' | 'redact' | 'supervise',
  client: Duplex,
  up: Duplex,
  head: Buffer,
  audit: (r: Pick<AuditRecord, 'decision'> & Partial<AuditRecord>) => void,
): void {
  (client as Socket).setNoDelay?.(true);
  (up as Socket).setNoDelay?.(true);
  const detectors = ctx.route!.plan.dlp.outbound;
  const filter =
    detectors.length === 0
      ? undefined
      : new ClientFrameFilter({
          stream: core.dlp.streamScanner(detectors),
          oneShot: core.dlp.scanner(detectors),
          // Values the operator allowed for this host, and published example keys, pass here as in requests.
          blocking: (found, rawOf) => core.dlp.blocking(found, rawOf, ctx.host),
          hold: onMatch === 'supervise',
          ...(deps.maxMessageBytes !== undefined ? { maxMessageBytes: deps.maxMessageBytes } : {}),
        });
  let closed = false;
  // Asks for the operator end with the relay (either side gone, or shut).
  const ac = new AbortController();
  const shut = (code: number, reason: string, record: Partial<AuditRecord>): void => {
    if (closed) return;
    closed = true;
    ac.abort(new Error('the WebSocket closed'));
    up.unpipe(client);
    up.destroy();
    client.end(closeFrame(code, reason));
    audit({ decision: 'terminated', status: 101, ...record });
  };
  up.on('error', () => client.destroy());
  up.on('close', () => {
    ac.abort(new Error('the upstream closed the WebSocket'));
    if (!closed) client.end();
  });
  client.on('close', () => ac.abort(new Error('the client closed the WebSocket')));
  client.on('end', () => {
    if (!closed) up.end();
  });
  up.pipe(client);

  // The client is read only while neither the upstream's buffer is full nor a message waits for the operator.
  let draining = false;
  let holding = false;
  const readClient = (): void => {
    if (!draining && !holding && !closed) client.resume();
  };
  const forward = (frames: Buffer[]): void => {
    let ok = true;
    for (const f of frames) ok = up.write(f) && ok;
    if (ok || draining) return;
    draining = true;
    client.pause();
    up.once('drain', () => {
      draining = false;
      readClient();
    });
  };
  const refuse = (err: unknown): void => {
    if (err instanceof WsDlpError) {
      const what = describe(err.blocking);
      // redact cannot work on a WebSocket: earlier frames of the stream are already
      // upstream, so a secret cannot be cut out of a message in a consistent way. Fail closed.
      const note = onMatch === 'redact' ? ' (onMatch redact cannot apply to a WebSocket; closed)' : '';
      return shut(CLOSE_POLICY_VIOLATION, `${what}${note}`, {
        stage: 'outbound-dlp',
        reason: `${what} in a WebSocket message${note}`,
        findings: [...ctx.findings, ...toAudit(err.all, 'websocket')],
      });
    }
    if (err instanceof WsCloseError) return shut(err.code, err.message, { stage: 'websocket', reason: `client frame refused: ${err.message}` });
    shut(1011, 'egress failed closed', { stage: 'internal', reason: `egress failed closed: ${(err as Error).message}` });
  };
  /**
   * onMatch supervise: the flagged message waits, unsent, for the operator (as a
   * request would); nothing behind it is read meanwhile. The upstream's frames
   * still reach the client; a peer that gives up while waiting closes the socket,
   * and an approval for the bottle still counts when the client reconnects.
   */
  const hold = async (f: ClientFrameFilter): Promise<void> => {
    holding = true;
    client.pause();
    for (let p = f.pending; p && !closed; p = f.pending) {
      const b = await core.dlp.supervise(p.values, { host: ctx.host, method: ctx.method, path: stripQuery(ctx.path), signal: ac.signal });
      if (closed) return;
      if (b) {
        return shut(CLOSE_POLICY_VIOLATION, b.reason, { stage: 'outbound-dlp', reason: `${b.reason} (a WebSocket message held for the operator)`, findings: [...ctx.findings, ...toAudit(p.all, 'websocket')] });
      }
      try {
        forward(f.release());
      } catch (err) {
        return refuse(err);
      }
    }
    holding = false;
    readClient();
  };

  const onData = (chunk: Buffer): void => {
    if (closed) return;
    if (!filter) return forward([chunk]);
    try {
      forward(filter.push(chunk));
    } catch (err) {
      return refuse(err);
    }
    if (filter.pending && !holding) void hold(filter);
  };
  if (head.length > 0) onData(head);
  client.on('data', onData);
  readClient();
}

/**
 * Where an upgrade request goes: the same target rules as the proxy's normal
 * requests (origin-form or same-authority absolute-form inside a tunnel;
 * absolute-form http:// on the plain listener).
 */
export function upgradeTarget(req: IncomingMessage, tunnel: Tunnel | undefined, inTunnel: boolean): Target | Block {
  const raw = req.url ?? '';
  if (inTunnel) {
    if (!tunnel) return block('parse', 'request outside a tunnel', 400, false);
    if (raw.startsWith('/')) return { scheme: 'https', host: tunnel.host, port: tunnel.port, path: raw, tunnel };
    const u = safeUrl(raw);
    const a = u && parseAuthority(u.host, tunnel.port);
    if (!u || (u.protocol !== 'https:' && u.protocol !== 'wss:') || !a || a.host !== tunnel.host || a.port !== tunnel.port) {
      return block('fronting', `request target ${JSON.stringify(raw)} differs from the CONNECT target ${tunnel.host}:${tunnel.port}`, 403, false);
    }
    return { scheme: 'https', host: tunnel.host, port: tunnel.port, path: `${u.pathname}${u.search}`, tunnel };
  }
  const u = safeUrl(raw);
  if (!u || raw.startsWith('/')) return block('parse', 'this is a forward proxy: send absolute-form requests (http://host/...) or CONNECT', 400, false);
  if (u.protocol !== 'http:' && u.protocol !== 'ws:') return block('parse', `${u.protocol} URLs must use CONNECT, not a plain proxy request`, 400, false);
  const a = parseAuthority(u.host, 80);
  if (!a) return block('parse', `malformed authority ${JSON.stringify(u.host)}`, 400, false);
  return { scheme: 'http', host: a.host, port: a.port, path: `${u.pathname}${u.search}`, tunnel: undefined };
}

/** Refusal before there is a target (bad request line): raw 4xx and an audit line. */
export function refuseUpgrade(core: ProxyCore, req: IncomingMessage, client: Duplex, host: string, b: Block): void {
  const what = { method: req.method ?? '?', host, path: stripQuery(req.url ?? '') };
  client.end(rawResponse(b.status, STATUS_TEXT[b.status] ?? 'Forbidden', blockBody(b, what)));
  core.audit({ ...what, route: null, decision: 'block', status: b.status, stage: b.stage, reason: b.reason });
}

function safeUrl(s: string): URL | undefined {
  try {
    return new URL(s);
  } catch {
    return undefined;
  }
}
