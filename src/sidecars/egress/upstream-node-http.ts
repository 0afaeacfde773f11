import { Agent, request as httpRequest, IncomingMessage, type ClientRequest, type IncomingHttpHeaders, type RequestOptions } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { SecureContext } from 'node:tls';
import type { Dispatcher } from 'undici';
import type { Resolver } from './resolve.js';
import { Preconnects } from './preconnect.js';
import { createUpstreamAgent, UpstreamConnector, type Upstream, type UpstreamDispatch } from './upstream.js';

/**
 * The upstream client on node:http instead of undici. node's HTTP parser is
 * the native llhttp; undici's is llhttp in WebAssembly, whose TurboFan compile
 * on the first requests is the proxy's largest memory spike (~43 MB,
 * docs/performance.md "Egress RSS"). Same sockets as the undici client
 * (`openSocket`: the SSRF-checked address, TLS verification and session
 * resumption, no Nagle), same DispatchHandler callbacks, so forward.ts does not
 * know which client runs. `request()` (not on the hot path) stays on undici.
 */
export function createNodeHttpUpstream(resolver: Resolver, ca: () => SecureContext, preconnects: Preconnects = new Preconnects()): Upstream {
  const connector = new UpstreamConnector(resolver, ca, preconnects);
  // TLS is done by openSocket, so both agents are plain http.Agents; one per scheme keeps their pools apart.
  const agentFor = (protocol: 'http:' | 'https:'): Agent => {
    const agent = new Agent({
      keepAlive: true,
      // Idle pooled sockets close after this (undici client: keepAliveTimeout 30 s).
      timeout: 30_000,
      maxSockets: 128,
      maxFreeSockets: 128,
      // The most recently used socket first: fewer sockets stay warm under light load.
      scheduling: 'lifo',
    });
    // node calls createConnection(options, cb) and waits for cb when it returns nothing.
    agent.createConnection = ((opts: { host?: string; port?: number | string }, cb: (err: Error | null, s?: Socket) => void): undefined => {
      const port = Number(opts.port) || (protocol === 'https:' ? 443 : 80);
      connector.connect(protocol, unbracket(opts.host ?? ''), port, (err, sock) => (err || !sock ? cb(err ?? new Error('no socket')) : cb(null, sock)));
      return undefined;
    }) as unknown as Agent['createConnection'];
    return agent;
  };
  const http = agentFor('http:');
  const https = agentFor('https:');
  let fallback: Upstream | undefined;
  return {
    request: (opts) => (fallback ??= createUpstreamAgent(resolver, ca)).request(opts),
    preconnect: (targets) => connector.preconnect(targets),
    connect: (protocol, hostname, port, cb) => connector.connect(protocol, hostname, port, cb),
    dispatch: (opts, handler) => {
      const origin = parseOrigin(opts.origin);
      const body = opts.body;
      // An async iterable body (the request-body gate) is read as a stream here.
      const stream = body instanceof Readable ? body : isAsyncIterable(body) ? Readable.from(body, { objectMode: false }) : null;
      const x = new NodeHttpExchange(handler, stream);
      if (!origin) {
        x.fail(new Error(`invalid upstream origin ${String(opts.origin)}`));
        return;
      }
      x.start(origin.https ? https : http, origin, opts);
    },
    close: async () => {
      connector.close();
      http.destroy();
      https.destroy();
      if (fallback) await fallback.close();
    },
  };
}

/**
 * The upstream client, chosen by BOT_BOTTLE_UPSTREAM_CLIENT (`undici`, the
 * default, or `node-http`): a measurement knob. Read from `env`, then from the
 * process, so a test run or bench can force it on every egress it starts.
 */
export function createUpstream(resolver: Resolver, ca: () => SecureContext, env: NodeJS.ProcessEnv, log?: (event: Record<string, unknown>) => void): Upstream {
  const which = env.BOT_BOTTLE_UPSTREAM_CLIENT ?? process.env.BOT_BOTTLE_UPSTREAM_CLIENT ?? 'undici';
  const preconnects = new Preconnects(undefined, log);
  if (which === 'undici') return createUpstreamAgent(resolver, ca, preconnects);
  if (which === 'node-http') return createNodeHttpUpstream(resolver, ca, preconnects);
  throw new Error(`BOT_BOTTLE_UPSTREAM_CLIENT=${which}: unknown upstream client; use undici or node-http`);
}

interface Origin {
  https: boolean;
  host: string;
  port: number;
  hostHeader: string;
}

/** Origins are `scheme://host:port` from forward.ts: parsed by hand (a URL per request costs), the last few cached. */
const origins = new Map<string, Origin>();
function parseOrigin(origin: string | URL | undefined): Origin | undefined {
  if (origin === undefined) return undefined;
  const s = String(origin);
  let o = origins.get(s);
  if (o) return o;
  const m = /^(https?):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(s);
  if (!m) return undefined;
  const https = m[1] === 'https';
  const port = m[3] !== undefined ? Number(m[3]) : https ? 443 : 80;
  o = { https, host: m[2]!, port, hostHeader: port === (https ? 443 : 80) ? m[2]! : `${m[2]!}:${port}` };
  if (origins.size >= 64) origins.delete(origins.keys().next().value!);
  origins.set(s, o);
  return o;
}

const unbracket = (h: string): string => (h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h);

/**
 * The request head as a flat [name, value, ...] list: node then writes it at once
 * instead of validating and storing each header in its map first. The Host
 * header is ours to add that way; it omits the scheme's default port, as undici's does.
 */
function requestHead(h: Dispatcher.DispatchOptions['headers'], origin: Origin, chunked: boolean): string[] {
  const out: string[] = ['host', origin.hostHeader];
  let hasLength = false;
  const add = (k: string, v: string | string[] | number | undefined): void => {
    if (v === undefined) return;
    const lower = k.toLowerCase();
    if (lower === 'host') return;
    if (lower === 'content-length') hasLength = true;
    if (Array.isArray(v)) for (const x of v) out.push(k, x);
    else out.push(k, String(v));
  };
  if (h != null) {
    if (Array.isArray(h)) for (let i = 0; i + 1 < h.length; i += 2) add(h[i]!, h[i + 1]);
    else if (typeof (h as Iterable<unknown>)[Symbol.iterator] === 'function') for (const [k, v] of h as Iterable<[string, string | string[] | undefined]>) add(k, v);
    else for (const k in h) add(k, (h as Record<string, string | string[] | undefined>)[k]);
  }
  // node frames a streamed body without Content-Length as chunked only for some methods: always ask for it.
  if (chunked && !hasLength) out.push('transfer-encoding', 'chunked');
  return out;
}

function isAsyncIterable(v: unknown): v is AsyncIterable<Buffer> {
  return typeof v === 'object' && v !== null && Symbol.asyncIterator in v && !(v instanceof Readable);
}

/** As undici does: detach the client's socket first, so ending the body stream does not cut the client's connection. */
function destroyBody(body: Readable, err?: Error): void {
  if (body.destroyed) return;
  if (body instanceof IncomingMessage) (body as { socket: unknown }).socket = null;
  body.destroy(err);
}

const EMPTY_TRAILERS: IncomingHttpHeaders = {};

/**
 * One upstream request: node's ClientRequest/IncomingMessage events turned into
 * DispatchHandler callbacks, and the controller the handler pauses, resumes or
 * aborts. A class (not a literal with closures over a context): see ExchangeContext.
 */
class NodeHttpExchange implements Dispatcher.DispatchController {
  aborted = false;
  paused = false;
  reason: Error | null = null;
  private creq: ClientRequest | undefined;
  private res: IncomingMessage | undefined;
  /** The handler got its last callback (end or error): later events are ignored. */
  private done = false;

  constructor(
    private readonly handler: Dispatcher.DispatchHandler,
    private readonly body: Readable | null,
  ) {}

  start(agent: Agent, origin: Origin, opts: UpstreamDispatch): void {
    this.handler.onRequestStart?.(this, undefined);
    if (this.done) return;
    const body = opts.body;
    let creq: ClientRequest;
    try {
      const options: RequestOptions & { servername: string } = {
        agent,
        host: origin.host,
        port: origin.port,
        // openSocket sets the TLS name: this only spares node's agent working one out from the Host header.
        servername: '',
        method: opts.method,
        path: opts.path,
        headers: requestHead(opts.headers, origin, this.body !== null),
      };
      creq = httpRequest(options);
    } catch (err) {
      // Invalid header names or values throw here.
      this.fail(err as Error);
      return;
    }
    this.creq = creq;
    creq.on('response', this.onResponse);
    creq.on('error', this.onError);
    if (this.body) {
      this.body.on('error', this.onError);
      this.body.pipe(creq);
    } else if (body == null) {
      creq.end();
    } else if (typeof body === 'string' || body instanceof Uint8Array) {
      creq.end(body);
    } else {
      this.fail(new Error('unsupported request body type for the node:http upstream client'));
    }
  }

  pause(): void {
    if (this.done || this.paused) return;
    this.paused = true;
    this.res?.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.res?.resume();
  }

  abort(reason: Error): void {
    if (this.done) return;
    this.aborted = true;
    this.reason = reason;
    this.fail(reason);
  }

  /** The last callback: tears the request down and tells the handler once. */
  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    // Listeners stay on: a late 'error' from a destroyed stream must not go unhandled.
    this.creq?.destroy();
    this.res?.destroy();
    if (this.body && !this.body.readableEnded) destroyBody(this.body, err);
    this.handler.onResponseError?.(this, err);
  }

  private onResponse = (res: IncomingMessage): void => {
    if (this.done) {
      res.on('error', noop);
      res.destroy();
      return;
    }
    this.res = res;
    res.on('error', this.onError);
    res.on('close', this.onClose);
    res.on('end', this.onEnd);
    // node's header object (repeated headers joined, Set-Cookie a list): its agent builds it for every response anyway.
    this.handler.onResponseStart?.(this, res.statusCode ?? 0, res.headers, res.statusMessage);
    if (this.done) return;
    // A pause asked for in onResponseStart holds: a 'data' listener does not resume a paused stream.
    if (this.paused) res.pause();
    res.on('data', this.onData);
  };

  private onData = (chunk: Buffer): void => {
    if (!this.done) this.handler.onResponseData?.(this, chunk);
  };

  private onEnd = (): void => {
    if (this.done) return;
    this.done = true;
    const res = this.res!;
    // The upstream answered before the request body was sent: that socket cannot be reused (undici does the same).
    if (this.creq && !this.creq.writableEnded) {
      this.creq.destroy();
      if (this.body && !this.body.readableEnded) destroyBody(this.body);
    }
    this.handler.onResponseEnd?.(this, res.rawTrailers.length > 0 ? res.trailers : EMPTY_TRAILERS);
  };

  private onError = (err: Error): void => this.fail(err);

  private onClose = (): void => {
    if (!this.done) this.fail(new Error('upstream closed the connection before the response ended'));
  };
}

function noop(): void {}
