import type { Socket } from 'node:net';

type Handed = (err: Error | null, socket: Socket | null) => void;
type Opener = (cb: Handed) => void;

interface Parked {
  /** The connection once its handshake is done. */
  socket?: Socket;
  /** A connect that claimed it mid-handshake. */
  waiter?: Handed;
  timer?: NodeJS.Timeout;
}

/**
 * Upstream connections opened ahead of the agent's first request (the
 * plan's `preconnect`: the model API), each handed to the first connect to
 * the same origin, then gone: a second connect opens its own. The opener is
 * the same as for any connect (the SSRF-checked address, TLS verified), so a
 * parked connection is one the proxy would have opened a moment later. A
 * connection nobody claims within `idleMs`, or that the upstream closes while
 * parked, is dropped; one that fails to open leaves the origin to the usual
 * connect.
 */
export class Preconnects {
  private readonly parked = new Map<string, Parked>();

  constructor(
    private readonly idleMs = 20_000,
    private readonly log: (event: Record<string, unknown>) => void = () => undefined,
  ) {}

  static key(protocol: string, host: string, port: number): string {
    return `${protocol}//${host.toLowerCase()}:${port}`;
  }

  /** Opens one connection for `key` unless one is parked already. */
  open(key: string, opener: Opener): void {
    if (this.parked.has(key)) return;
    const entry: Parked = {};
    this.parked.set(key, entry);
    const started = performance.now();
    opener((err, socket) => {
      // Claimed while it opened: the claiming connect takes it (or, if it failed, connects as usual).
      if (entry.waiter) return entry.waiter(err, socket);
      if (this.parked.get(key) !== entry) {
        socket?.destroy(); // egress closed meanwhile
        return;
      }
      if (err || !socket) {
        this.parked.delete(key);
        this.log({ event: 'egress-preconnect-failed', origin: key, error: err?.message ?? 'no socket' });
        return;
      }
      this.log({ event: 'egress-preconnected', origin: key, ms: Math.round(performance.now() - started) });
      this.park(key, entry, socket);
    });
  }

  /**
   * The parked connection for `key`, handed to `cb` on a later tick (undici
   * expects its connector's callback after the call returns); or, if it is
   * still opening, when it is done. False when there is none: connect as usual.
   * `fallback` runs instead of `cb` when the connection being waited for failed.
   */
  claim(key: string, cb: Handed, fallback: () => void): boolean {
    const entry = this.parked.get(key);
    if (!entry || entry.waiter) return false;
    if (entry.socket === undefined) {
      entry.waiter = (err, socket) => (err || !socket ? fallback() : cb(null, socket));
      this.parked.delete(key);
      return true;
    }
    const socket = entry.socket;
    this.unpark(key, entry);
    if (socket.destroyed || !socket.writable) return false;
    // Until the claiming connect has it and listens for errors itself.
    const ignore = (): void => undefined;
    socket.on('error', ignore);
    process.nextTick(() => {
      socket.off('error', ignore);
      cb(null, socket);
    });
    return true;
  }

  /** Drops every parked connection (egress closing). */
  close(): void {
    for (const [key, entry] of [...this.parked]) {
      const socket = entry.socket;
      this.unpark(key, entry);
      socket?.destroy();
    }
  }

  private park(key: string, entry: Parked, socket: Socket): void {
    entry.socket = socket;
    this.parked.set(key, entry);
    const drop = (): void => {
      if (this.parked.get(key) !== entry) return;
      this.unpark(key, entry);
      socket.destroy();
    };
    // An idle upstream may close or reset it while parked: it is then simply not handed out.
    socket.on('error', drop);
    socket.on('close', drop);
    entry.timer = setTimeout(drop, this.idleMs);
    entry.timer.unref();
    parkedListeners.set(socket, drop);
  }

  private unpark(key: string, entry: Parked): void {
    if (this.parked.get(key) === entry) this.parked.delete(key);
    clearTimeout(entry.timer);
    const socket = entry.socket;
    if (!socket) return;
    const drop = parkedListeners.get(socket);
    if (drop) {
      socket.off('error', drop);
      socket.off('close', drop);
      parkedListeners.delete(socket);
    }
  }
}

const parkedListeners = new WeakMap<Socket, () => void>();
