import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:https';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { TestPki } from './support.js';

/** Independent RFC 6455 framing for the tests (not the proxy's code). */
export interface Frame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

export function encodeFrame(opcode: number, payload: Buffer | string, opts: { fin?: boolean; mask?: boolean; rsv?: number; lengthOverride?: number } = {}): Buffer {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  const mask = opts.mask ?? true;
  const len = opts.lengthOverride ?? data.length;
  const parts: Buffer[] = [Buffer.from([((opts.fin ?? true) ? 0x80 : 0) | (opts.rsv ?? 0) | opcode])];
  const m = mask ? 0x80 : 0;
  if (len < 126) parts.push(Buffer.from([m | len]));
  else if (len < 65536) {
    const b = Buffer.alloc(3);
    b[0] = m | 126;
    b.writeUInt16BE(len, 1);
    parts.push(b);
  } else {
    const b = Buffer.alloc(9);
    b[0] = m | 127;
    b.writeBigUInt64BE(BigInt(len), 1);
    parts.push(b);
  }
  if (mask) {
    const key = randomBytes(4);
    parts.push(key, Buffer.from(data.map((x, i) => x ^ key[i % 4]!)));
  } else parts.push(data);
  return Buffer.concat(parts);
}

/** Parses whole frames off the front of `buf`; returns them and the rest. */
export function decodeFrames(buf: Buffer): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = [];
  let at = 0;
  while (buf.length - at >= 2) {
    const b1 = buf[at + 1]!;
    let len = b1 & 0x7f;
    let p = at + 2;
    if (len === 126) {
      if (buf.length < p + 2) break;
      len = buf.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      if (buf.length < p + 8) break;
      len = Number(buf.readBigUInt64BE(p));
      p += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    const key = masked ? buf.subarray(p, p + 4) : undefined;
    if (masked) p += 4;
    if (buf.length < p + len) break;
    const raw = buf.subarray(p, p + len);
    const payload = key ? Buffer.from(raw.map((x, i) => x ^ key[i % 4]!)) : Buffer.from(raw);
    frames.push({ fin: (buf[at]! & 0x80) !== 0, opcode: buf[at]! & 0x0f, masked, payload });
    at = p + len;
  }
  return { frames, rest: buf.subarray(at) };
}

export const closeCode = (f: Frame): number => f.payload.readUInt16BE(0);
export const closeReason = (f: Frame): string => f.payload.subarray(2).toString('utf8');

/** WebSocket echo upstream (TLS, or plain without a PKI): records upgrade requests and every client frame it receives. */
export async function startWsUpstream(pki: TestPki | undefined) {
  const upgrades: IncomingMessage['headers'][] = [];
  const frames: Frame[] = [];
  const sockets = new Set<Duplex>();
  const plainAnswer = (_req: IncomingMessage, res: import('node:http').ServerResponse): void => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('upgrade required');
  };
  // Without a PKI: a plain-http upstream for ws:// tests.
  const server = pki ? createServer({ key: pki.keyPem, cert: pki.certPem }, plainAnswer) : createHttpServer(plainAnswer);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    upgrades.push(req.headers);
    if (req.url === '/reject') {
      socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\ncontent-length: 12\r\n\r\nnot allowed\n');
      return;
    }
    const accept = createHash('sha1').update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nX-Upstream: ws-echo\r\n\r\n`);
    let buf = head;
    let message: { opcode: number; parts: Buffer[] } | undefined;
    const onData = (chunk: Buffer): void => {
      const r = decodeFrames(Buffer.concat([buf, chunk]));
      buf = r.rest;
      for (const f of r.frames) {
        frames.push(f);
        if (f.opcode === 0x9) socket.write(encodeFrame(0xa, f.payload, { mask: false }));
        else if (f.opcode === 0x8) socket.end(encodeFrame(0x8, f.payload.subarray(0, 2), { mask: false }));
        else if (f.opcode < 0x8) {
          message ??= { opcode: f.opcode, parts: [] };
          message.parts.push(f.payload);
          if (f.fin) {
            socket.write(encodeFrame(message.opcode, Buffer.concat(message.parts), { mask: false }));
            message = undefined;
          }
        }
      }
    };
    if (head.length > 0) onData(Buffer.alloc(0));
    socket.on('data', onData);
  });
  let accepted = 0;
  server.on(pki ? 'secureConnection' : 'connection', () => accepted++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    /** Connections accepted so far (TLS ones for a wss upstream). */
    connections: () => accepted,
    upgrades,
    frames,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A raw WebSocket client through the egress proxy (CONNECT + TLS for wss, absolute-form for ws). */
export class RawWs {
  private buf: Buffer = Buffer.alloc(0);
  private queue: Frame[] = [];
  private waiters: (() => void)[] = [];
  ended = false;

  private constructor(
    readonly sock: Duplex,
    readonly status: number,
    readonly head: string,
  ) {
    sock.on('data', (c: Buffer) => this.feed(c));
    sock.on('close', () => {
      this.ended = true;
      this.wake();
    });
    sock.on('error', () => undefined);
    sock.resume();
  }

  static async open(opts: {
    proxy: string;
    host: string;
    port: number;
    path: string;
    caPem: string;
    plain?: boolean;
    headers?: Record<string, string>;
  }): Promise<RawWs> {
    const [ph, pp] = opts.proxy.replace(/^http:\/\//, '').split(':');
    const raw = netConnect({ host: ph!, port: Number(pp) });
    await new Promise<void>((resolve, reject) => {
      raw.once('connect', resolve);
      raw.once('error', reject);
    });
    let sock: Socket = raw;
    let target = opts.path;
    if (!opts.plain) {
      raw.write(`CONNECT ${opts.host}:${opts.port} HTTP/1.1\r\nHost: ${opts.host}:${opts.port}\r\n\r\n`);
      const { head, rest } = await readHead(raw);
      if (!head.startsWith('HTTP/1.1 200')) throw new Error(`CONNECT refused: ${head.split('\r\n')[0]}`);
      if (rest.length > 0) raw.unshift(rest);
      const tls = tlsConnect({ socket: raw, servername: opts.host, ca: opts.caPem });
      await new Promise<void>((resolve, reject) => {
        tls.once('secureConnect', resolve);
        tls.once('error', reject);
      });
      sock = tls;
    } else target = `http://${opts.host}:${opts.port}${opts.path}`;
    const headers = {
      Host: `${opts.host}:${opts.port}`,
      Upgrade: 'websocket',
      Connection: 'Upgrade',
      'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      'Sec-WebSocket-Version': '13',
      ...opts.headers,
    };
    sock.write(`GET ${target} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    const { head, rest } = await readHead(sock, true);
    const ws = new RawWs(sock, Number(head.split(' ')[1]), head);
    if (rest.length > 0) ws.feed(rest);
    return ws;
  }

  send(opcode: number, payload: Buffer | string, opts: { fin?: boolean; mask?: boolean; rsv?: number; lengthOverride?: number } = {}): void {
    this.sock.write(encodeFrame(opcode, payload, opts));
  }

  /** The next frame from the proxy, or undefined once the connection closed (bounded wait). */
  async next(timeoutMs = 5000): Promise<Frame | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0 && !this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no frame within the timeout');
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.queue.shift();
  }

  /** Everything after the response head until the proxy closes (for non-101 answers). */
  async rest(timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.buf.toString('utf8');
  }

  close(): void {
    this.sock.destroy();
  }

  private feed(c: Buffer): void {
    this.buf = Buffer.concat([this.buf, c]);
    if (this.status !== 101) return;
    const r = decodeFrames(this.buf);
    this.buf = r.rest;
    this.queue.push(...r.frames);
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

async function readHead(sock: Duplex, pauseAfter = false): Promise<{ head: string; rest: Buffer }> {
  let buf: Buffer = Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error('no response head within 10 s')), 10_000);
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const i = buf.indexOf('\r\n\r\n');
      if (i === -1) return;
      done(undefined, { head: buf.subarray(0, i).toString('latin1'), rest: buf.subarray(i + 4) });
    };
    const onEnd = (): void => done(new Error(`connection closed before a response head: ${buf.toString('latin1')}`));
    function done(err: Error | undefined, v?: { head: string; rest: Buffer }): void {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('end', onEnd);
      sock.off('error', onEnd);
      if (pauseAfter) sock.pause();
      if (err) reject(err);
      else resolve(v!);
    }
    sock.on('data', onData);
    sock.on('end', onEnd);
    sock.on('error', onEnd);
  });
}
