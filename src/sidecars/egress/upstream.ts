import { readFileSync } from 'node:fs';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { connect as tlsConnect, createSecureContext, rootCertificates, type SecureContext, type TLSSocket } from 'node:tls';
import type { Agent, buildConnector, Dispatcher } from 'undici';
import { Preconnects } from './preconnect.js';
import type { Resolver } from './resolve.js';

/**
 * Upstream trust: the system roots plus, when set, the PEM bundle in
 * BOT_BOTTLE_UPSTREAM_CA (how tests and corporate MITM setups add a root).
 * The extra file is read at start-up (a bad path is fatal there); the context
 * itself is built on the first upstream connection, once: parsing ~140 roots
 * costs more than a TLS handshake, and the bundle should start fast.
 */
export function upstreamCa(env: NodeJS.ProcessEnv): () => SecureContext {
  const extra = env.BOT_BOTTLE_UPSTREAM_CA;
  let pem: string | undefined;
  if (extra) {
    try {
      pem = readFileSync(extra, 'utf8');
    } catch (err) {
      throw new Error(`BOT_BOTTLE_UPSTREAM_CA=${extra}: cannot read the PEM file: ${(err as Error).message}`, { cause: err });
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new Error(`BOT_BOTTLE_UPSTREAM_CA=${extra}: holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)`);
    }
  }
  const key = pem ?? '';
  return () => {
    let ctx = trustStores.get(key);
    if (ctx === undefined) {
      ctx = createSecureContext({ ca: pem === undefined ? [...rootCertificates] : [...rootCertificates, pem] });
      trustStores.set(key, ctx);
    }
    return ctx;
  };
}

/** Built once per process and extra CA (at egress's `warm`, or by the first upstream connection). */
const trustStores = new Map<string, SecureContext>();

let undiciAgent: Promise<typeof import('undici/lib/dispatcher/agent.js')> | undefined;
/** undici's Agent module, loaded once per process (by the first upstream request or its warm-up). */
export function loadUndiciAgent(): Promise<typeof import('undici/lib/dispatcher/agent.js')> {
  return (undiciAgent ??= import('undici/lib/dispatcher/agent.js'));
}

/**
 * Opens an upstream socket to the address the SSRF guard checked. The resolver
 * caches per host:port, so the pipeline's early check and this connect see the
 * same answer; if it changed, this check still runs on what we connect to.
 */
export function openSocket(
  resolver: Resolver,
  secureContext: () => SecureContext,
  protocol: string,
  hostname: string,
  port: number,
  cb: (err: Error | null, socket: Socket | TLSSocket | null) => void,
  sessions: TlsSessionCache = new TlsSessionCache(),
): void {
  resolver.resolve(hostname, port).then(
    (r) => {
      let sock: Socket;
      if (protocol === 'https:') {
        // Resume the last session with this exact name and address: a new keep-alive
        // connection then skips the full handshake (certificate checks ran on the original).
        const key = `${hostname}|${r.address}|${port}`;
        const session = sessions.get(key);
        const tls = tlsConnect({
          host: r.address,
          port,
          ...(isIP(hostname) === 0 ? { servername: hostname } : {}),
          secureContext: secureContext(),
          ALPNProtocols: ['http/1.1'],
          ...(session ? { session } : {}),
        });
        tls.on('session', (s: Buffer) => sessions.set(key, s));
        sock = tls;
      } else {
        sock = netConnect({ host: r.address, port });
      }
      // Nagle delays each SSE event by ~40 ms: stream events as they come.
      sock.setNoDelay(true);
      const ready = protocol === 'https:' ? 'secureConnect' : 'connect';
      const onError = (err: Error): void => cb(err, null);
      sock.once('error', onError);
      sock.once(ready, () => {
        sock.removeListener('error', onError);
        cb(null, sock);
      });
    },
    (err: Error) => cb(err, null),
  );
}

/**
 * Connections opened ahead per target: an agent's first requests to its model API come in pairs (Claude Code
 * asks for its settings and policy limits at once), and each would otherwise wait for a handshake.
 */
export const PRECONNECTS_PER_TARGET = 2;

/**
 * How an upstream client (and the WebSocket upgrades beside it) gets its sockets: `openSocket` with one TLS
 * session cache, a connection opened ahead for the origin (preconnect.ts) handed out first.
 */
export class UpstreamConnector {
  private readonly sessions = new TlsSessionCache();

  constructor(
    private readonly resolver: Resolver,
    private readonly secureContext: () => SecureContext,
    private readonly preconnects: Preconnects = new Preconnects(),
  ) {}

  connect(protocol: string, hostname: string, port: number, cb: (err: Error | null, socket: Socket | TLSSocket | null) => void): void {
    const open = (): void => openSocket(this.resolver, this.secureContext, protocol, hostname, port, cb, this.sessions);
    if (protocol === 'https:' && this.preconnects.claim(Preconnects.key(protocol, hostname, port), cb, open)) return;
    open();
  }

  /** Opens PRECONNECTS_PER_TARGET HTTPS connections to each target, the same connect as a request's. */
  preconnect(targets: ReadonlyArray<{ host: string; port: number }>): void {
    for (const t of targets) {
      for (let i = 0; i < PRECONNECTS_PER_TARGET; i++) {
        this.preconnects.open(Preconnects.key('https:', t.host, t.port), (cb) => openSocket(this.resolver, this.secureContext, 'https:', t.host, t.port, cb, this.sessions));
      }
    }
  }

  close(): void {
    this.preconnects.close();
  }
}

/** Last TLS session per upstream name+address+port, bounded (oldest dropped first). */
export class TlsSessionCache {
  private readonly map = new Map<string, Buffer>();
  constructor(private readonly max = 256) {}
  get(key: string): Buffer | undefined {
    return this.map.get(key);
  }
  set(key: string, session: Buffer): void {
    this.map.delete(key);
    this.map.set(key, session);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }
}

/** The part of undici's Agent the proxy uses. */
/**
 * undici's dispatch options, whose body may also be an async iterable of
 * buffers (undici reads one when it is ready for more; its types omit it).
 */
export type UpstreamDispatch = Omit<Dispatcher.DispatchOptions, 'body'> & { body?: Dispatcher.DispatchOptions['body'] | AsyncIterable<Buffer> };

export interface Upstream {
  request(opts: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData>;
  /**
   * undici's callback API: no promise, body stream or async iterator per request
   * (the proxy's hot path). A failure to load undici reaches `onResponseError`.
   */
  dispatch(opts: UpstreamDispatch, handler: Dispatcher.DispatchHandler): void;
  /** Starts loading the client in the background (once the proxy listens), so the first request does not wait for it; resolves when loaded. */
  warm?(): Promise<void>;
  /** Opens one HTTPS connection to each target now, handed to the first request to it (preconnect.ts). */
  preconnect(targets: ReadonlyArray<{ host: string; port: number }>): void;
  /** A socket to an upstream as this client's own requests get one (a parked one first): for WebSocket upgrades. */
  connect(protocol: string, hostname: string, port: number, cb: (err: Error | null, socket: Socket | TLSSocket | null) => void): void;
  close(): Promise<void>;
}

/** Stands in for undici's controller when undici itself could not be loaded. */
const NO_CONTROLLER: Dispatcher.DispatchController = {
  aborted: true,
  paused: false,
  reason: null,
  abort: () => undefined,
  pause: () => undefined,
  resume: () => undefined,
};

/**
 * undici is loaded after ready (`warm()`) or by the first upstream request,
 * not before ready: it is the largest module the proxy needs (~150 ms to load
 * here), and the bundle must report ready quickly. Only its Agent module is
 * loaded: undici's index also evaluates fetch, WebSocket, caches, mocks and
 * their node built-ins, 4–9 MB of RSS the proxy never uses (docs/performance.md,
 * "Egress RSS: session 3"). undici has no `exports` map, so the file is
 * reachable; tests/egress/upstream-agent-load.test.ts pins that it is the Agent.
 */
export function createUpstreamAgent(resolver: Resolver, ca: () => SecureContext, preconnects: Preconnects = new Preconnects()): Upstream {
  let agent: Promise<Agent> | undefined;
  let loaded: Agent | undefined;
  const connector = new UpstreamConnector(resolver, ca, preconnects);
  const load = (): Promise<Agent> =>
    (agent ??= loadUndiciAgent().then((mod) => {
      // undici is CommonJS: `default` is module.exports, here the Agent class itself.
      const Agent = mod.default;
      const connect: buildConnector.connector = (opts, cb) => {
        const port = Number(opts.port) || (opts.protocol === 'https:' ? 443 : 80);
        connector.connect(opts.protocol, opts.hostname, port, (err, sock) => (err || !sock ? cb(err ?? new Error('no socket'), null) : cb(null, sock)));
      };
      return (loaded = new Agent({
        connect,
        keepAliveTimeout: 30_000,
        // LLM streams can pause for a long time between events; the agent decides when to give up.
        bodyTimeout: 0,
        // The headers timeout is the exchange's own (forward.ts): undici's per-request timer
        // outlived the request and piled up in the old generation under load.
        headersTimeout: 0,
        connections: 128,
      }));
    }));
  return {
    request: async (opts) => (await load()).request(opts),
    // A failure is kept in `agent` and reaches the first request.
    warm: () => load().then(
      () => undefined,
      () => undefined,
    ),
    preconnect: (targets) => connector.preconnect(targets),
    connect: (protocol, hostname, port, cb) => connector.connect(protocol, hostname, port, cb),
    dispatch: (opts, handler) => {
      if (loaded) {
        loaded.dispatch(opts as Dispatcher.DispatchOptions, handler);
        return;
      }
      // Until undici takes the body (its Request listens for errors), a body that fails
      // (a DLP block, a client gone) must not be an unhandled 'error' event: hold it here.
      const body = opts.body instanceof Readable ? opts.body : undefined;
      let bodyError: Error | undefined;
      const onBodyError = (err: Error): void => {
        bodyError = err;
      };
      body?.on('error', onBodyError);
      load().then(
        (a) => {
          // The client went (or the gate blocked) while undici loaded: no upstream request at all.
          // Our listener stays: the destroyed body may still emit its 'error' on a later tick.
          if (body?.destroyed) {
            handler.onResponseError?.(NO_CONTROLLER, bodyError ?? body.errored ?? new Error('the request body ended before the upstream request started'));
            return;
          }
          body?.off('error', onBodyError);
          a.dispatch(opts as Dispatcher.DispatchOptions, handler);
        },
        (err: Error) => handler.onResponseError?.(NO_CONTROLLER, err),
      );
    },
    close: async () => {
      connector.close();
      if (agent) await (await agent).close();
    },
  };
}
