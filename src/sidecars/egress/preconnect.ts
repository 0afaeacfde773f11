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
 * Upstream connections opened ahead of the agent's first requests (the
 * plan's `preconnect`: the model API), each handed to one connect to the
 * same origin, then gone: a connect after them opens its own. The opener is
 * the same as for any connect (the SSRF-checked address, TLS verified), so a
 * parked connection is one the proxy would have opened a moment later. A
 * connection nobody claims within `idleMs`, or that the upstream closes while
 * parked, is dropped; one that fails to open leaves the origin to the usual
 * connect.
 */
export class Preconnects {
  /** Per origin, the connections opened ahead and not yet handed out, oldest first. */
  private readonly parked = new Map<string, Parked[]>();

  constructor(
    private readonly idleMs = 20_000,
    private readonly log: (event: Record<string, unknown>) => void = () => undefined,
  ) {}

  static key(protocol: string, host: string, port: number): string {
    return `${protocol}//${host.toLowerCase()}:${port}`;
  }

  /** Opens one more connection for `key`. */
  open(key: string, opener: Opener): void {
    const entry: Parked = {};
    this.add(key, entry);
    const started = performance.now();
    opener((err, socket) => {
      // Claimed while it opened: the claiming connect takes it (or, if it failed, connects as usual).
      if (entry.waiter) return entry.waiter(err, socket);
      if (!this.holds(key, entry)) {
        socket?.destroy(); // egress closed meanwhile
        return;
      }
      if (err || !socket) {
        this.remove(key, entry);
        this.log({ event: 'egress-preconnect-failed', origin: key, error: err?.message ?? 'no socket' });
        return;
      }
      this.log({ event: 'egress-preconnected', origin: key, ms: Math.round(performance.now() - started) });
      this.park(key, entry, socket);
    });
  }

  /**
   * A parked connection for `key` (an open one first), handed to `cb` on a
   * later tick (undici expects its connector's callback after the call
   * returns); or, if they are all still opening, the oldest, when it is done.
   * False when there is none: connect as usual. `fallback` runs instead of
   * `cb` when the connection being waited for failed.
   */
  claim(key: string, cb: Handed, fallback: () => void): boolean {
    const entries = this.parked.get(key) ?? [];
    const open = entries.find((e) => e.socket !== undefined && !e.socket.destroyed && e.socket.writable);
    if (open !== undefined) {
      const socket = open.socket!;
      this.unpark(key, open);
      // Until the claiming connect has it and listens for errors itself.
      const ignore = (): void => undefined;
      socket.on('error', ignore);
      process.nextTick(() => {
        socket.off('error', ignore);
        cb(null, socket);
      });
      return true;
    }
    const opening = entries.find((e) => e.socket === undefined);
    if (opening === undefined) return false;
    opening.waiter = (err, socket) => (err || !socket ? fallback() : cb(null, socket));
    this.remove(key, opening);
    return true;
  }

  /** Drops every parked connection (egress closing). */
  close(): void {
    for (const [key, entries] of [...this.parked]) {
      for (const entry of [...entries]) {
        const socket = entry.socket;
        this.unpark(key, entry);
        socket?.destroy();
      }
    }
  }

  private add(key: string, entry: Parked): void {
    const entries = this.parked.get(key);
    if (entries) entries.push(entry);
    else this.parked.set(key, [entry]);
  }

  private holds(key: string, entry: Parked): boolean {
    return this.parked.get(key)?.includes(entry) ?? false;
  }

  private remove(key: string, entry: Parked): void {
    const entries = this.parked.get(key);
    if (!entries) return;
    const i = entries.indexOf(entry);
    if (i >= 0) entries.splice(i, 1);
    if (entries.length === 0) this.parked.delete(key);
  }

  private park(key: string, entry: Parked, socket: Socket): void {
    entry.socket = socket;
    const drop = (): void => {
      if (!this.holds(key, entry)) return;
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
    this.remove(key, entry);
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
