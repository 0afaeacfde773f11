import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { stripQuery } from './audit.js';
import type { MitmCa } from './ca.js';
import { handleRequest, type ProxyCore } from './forward.js';
import { parseAuthority, type Tunnel } from './pipeline.js';
import { describeRoutes, findRoute } from './routes.js';
import { block, blockBody, rawResponse, sendBlock, type Block } from './verdict.js';
import { handleUpgrade, refuseUpgrade, upgradeTarget, type WebSocketDeps } from './websocket.js';

export const INTROSPECTION_HOST = '_egress.local';

/**
 * The listening proxy: plain absolute-form HTTP and CONNECT on the outer
 * server; bumped TLS connections are fed to an inner server that never listens.
 */
export function createProxyServer(core: ProxyCore, ca: MitmCa, ws: WebSocketDeps): { server: Server; destroyTunnels: () => void } {
  const tunnels = new WeakMap<Socket, Tunnel>();
  const live = new Set<Socket>();
  const serverOpts = { keepAliveTimeout: 60_000, requestTimeout: 0, headersTimeout: 60_000 };

  const inner = createServer(serverOpts, (req, res) => {
    const tunnel = tunnels.get(req.socket);
    if (!tunnel) return sendBlock(res, block('parse', 'request outside a tunnel', 400, false), what(req, '?'));
    let path = req.url ?? '/';
    if (!path.startsWith('/')) {
      // Absolute-form inside a tunnel: the authority must be the tunnel's own.
      const u = safeUrl(path);
      const a = u && parseAuthority(u.host, tunnel.port);
      if (!u || u.protocol !== 'https:' || !a || a.host !== tunnel.host || a.port !== tunnel.port) {
        return refuse(core, res, req, tunnel.host, block('fronting', `request target ${JSON.stringify(path)} differs from the CONNECT target ${tunnel.host}:${tunnel.port}`, 403, false));
      }
      path = `${u.pathname}${u.search}`;
    }
    void handleRequest(core, req, res, { scheme: 'https', host: tunnel.host, port: tunnel.port, path, tunnel });
  });

  const outer = createServer(serverOpts, (req, res) => {
    const u = safeUrl(req.url ?? '');
    if (!u || (req.url ?? '').startsWith('/')) {
      return refuse(core, res, req, '?', block('parse', 'this is a forward proxy: send absolute-form requests (http://host/...) or CONNECT', 400, false));
    }
    if (u.protocol !== 'http:') {
      return refuse(core, res, req, u.hostname, block('parse', `${u.protocol} URLs must use CONNECT, not a plain proxy request`, 400, false));
    }
    const a = parseAuthority(u.host, 80);
    if (!a) return refuse(core, res, req, u.host, block('parse', `malformed authority ${JSON.stringify(u.host)}`, 400, false));
    if (a.host === INTROSPECTION_HOST) return introspect(core, req, res, u.pathname);
    void handleRequest(core, req, res, { scheme: 'http', host: a.host, port: a.port, path: `${u.pathname}${u.search}`, tunnel: undefined });
  });

  outer.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    live.add(socket as Socket);
    socket.once('close', () => live.delete(socket as Socket));
    void onConnect(core, ca, inner, tunnels, req, socket as Socket, head);
  });
  for (const s of [outer, inner]) {
    s.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      const code = err.code ?? 'HPE_INVALID';
      const host = s === inner ? (tunnels.get(socket as Socket)?.host ?? '?') : '?';
      core.audit({ method: '?', host, path: '?', route: null, decision: 'block', status: 400, stage: 'parse', reason: `malformed request rejected by the HTTP parser (${code})` });
      if (socket.writable && code !== 'ECONNRESET') {
        const b = block('parse', `malformed or ambiguous request (${code})`, 400, false);
        socket.end(rawResponse(400, 'Bad Request', blockBody(b, { method: '?', host, path: '' })));
      } else socket.destroy();
    });
    // WebSocket upgrades: the same pipeline as requests, then a frame-scanning relay (websocket.ts).
    s.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (s === outer) {
        live.add(socket as Socket);
        socket.once('close', () => live.delete(socket as Socket));
      }
      const t = upgradeTarget(req, tunnels.get(socket as Socket), s === inner);
      if ('ok' in t) return refuseUpgrade(core, req, socket, s === inner ? (tunnels.get(socket as Socket)?.host ?? '?') : '?', t);
      void handleUpgrade(core, ws, req, socket, head, t);
    });
  }
  outer.on('connection', (s: Socket) => s.setNoDelay(true));
  return {
    server: outer,
    destroyTunnels: () => {
      for (const s of live) s.destroy();
    },
  };
}

async function onConnect(
  core: ProxyCore,
  ca: MitmCa,
  inner: Server,
  tunnels: WeakMap<Socket, Tunnel>,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
): Promise<void> {
  socket.on('error', () => socket.destroy());
  const target = req.url ?? '';
  const a = parseAuthority(target, 443);
  const deny = (b: Block, host: string): void => {
    core.audit({ method: 'CONNECT', host, path: '', route: findRoute(core.table(), host)?.plan.host ?? null, decision: 'block', status: b.status, stage: b.stage, reason: b.reason });
    socket.end(rawResponse(b.status, b.status === 400 ? 'Bad Request' : 'Forbidden', blockBody(b, { method: 'CONNECT', host, path: '' })));
  };
  if (!a || !/^[^:]+:\d+$|^\[.*\]:\d+$/.test(target)) return deny(block('parse', `CONNECT target ${JSON.stringify(target)} must be host:port`, 400, false), target);
  // Every well-formed target is bumped, routed or not: the requests inside go through the
  // stages like any other, so a refused host (unrouted, IP literal, wrong port) is answered
  // with a 403 inside TLS that the client shows, where a refused CONNECT shows nothing useful
  // ("CONNECT tunnel failed", "Socket is closed"). Nothing reaches an upstream before the stages allow it.
  let ctx;
  try {
    ctx = await ca.contextFor(a.host);
  } catch (err) {
    return deny(block('tls', `cannot mint a certificate for ${a.host}: ${(err as Error).message}`, 502, false), a.host);
  }
  socket.setNoDelay(true);
  socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  if (head.length > 0) socket.unshift(head);
  const tunnel: Tunnel = { host: a.host, port: a.port, sni: undefined };
  const tls = new TLSSocket(socket, {
    isServer: true,
    secureContext: ctx,
    ALPNProtocols: ['http/1.1'],
    // A mismatched SNI still gets the CONNECT host's certificate; every request on it is then refused (fronting stage).
    SNICallback: (servername, cb) => {
      tunnel.sni = servername.toLowerCase().replace(/\.$/, '');
      cb(null, ctx);
    },
  });
  tls.on('error', (err: NodeJS.ErrnoException) => {
    if (!tls.encrypted || err.code !== 'ECONNRESET') {
      core.audit({ method: 'CONNECT', host: a.host, path: '', route: findRoute(core.table(), a.host)?.plan.host ?? null, decision: 'error', stage: 'tls', reason: `TLS with the client failed: ${err.code ?? err.message}` });
    }
    tls.destroy();
  });
  tunnels.set(tls, tunnel);
  inner.emit('connection', tls);
}

function introspect(core: ProxyCore, req: IncomingMessage, res: ServerResponse, path: string): void {
  req.resume();
  if (path !== '/allowlist') {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end(`${INTROSPECTION_HOST} serves GET /allowlist\n`);
    return;
  }
  const body = JSON.stringify({ routes: describeRoutes(core.table()) }, null, 2);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function refuse(core: ProxyCore, res: ServerResponse, req: IncomingMessage, host: string, b: Block): void {
  req.resume();
  const w = what(req, host);
  sendBlock(res, b, w);
  core.audit({ ...w, route: null, decision: 'block', status: b.status, stage: b.stage, reason: b.reason });
}

function what(req: IncomingMessage, host: string): { method: string; host: string; path: string } {
  return { method: req.method ?? '?', host, path: stripQuery(req.url ?? '') };
}

function safeUrl(s: string): URL | undefined {
  try {
    return new URL(s);
  } catch {
    return undefined;
  }
}
