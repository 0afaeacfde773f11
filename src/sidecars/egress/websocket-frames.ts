/**
 * RFC 6455 framing, the small part the proxy needs: parse client frame
 * headers, unmask payloads, build the server's close frame.
 */

export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

export const CLOSE_PROTOCOL_ERROR = 1002;
export const CLOSE_POLICY_VIOLATION = 1008;
export const CLOSE_TOO_BIG = 1009;

export interface FrameHeader {
  fin: boolean;
  /** RSV1-3 bits (0 unless an extension was negotiated; the proxy negotiates none). */
  rsv: number;
  opcode: number;
  mask: Buffer | undefined;
  /** Payload length. Numbers above 2^53 are refused while parsing. */
  length: number;
  headerLength: number;
}

/** A reason to close the client connection, with the close code to send. */
export class WsCloseError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'WsCloseError';
  }
}

/** Parses a frame header from the start of `buf`; undefined when more bytes are needed. */
export function parseFrameHeader(buf: Buffer): FrameHeader | undefined {
  if (buf.length < 2) return undefined;
  const b0 = buf[0]!;
  const b1 = buf[1]!;
  const masked = (b1 & 0x80) !== 0;
  let length = b1 & 0x7f;
  let at = 2;
  if (length === 126) {
    if (buf.length < 4) return undefined;
    length = buf.readUInt16BE(2);
    at = 4;
  } else if (length === 127) {
    if (buf.length < 10) return undefined;
    const big = buf.readBigUInt64BE(2);
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new WsCloseError(CLOSE_TOO_BIG, 'frame length out of range');
    length = Number(big);
    at = 10;
  }
  let mask: Buffer | undefined;
  if (masked) {
    if (buf.length < at + 4) return undefined;
    mask = Buffer.from(buf.subarray(at, at + 4));
    at += 4;
  }
  return { fin: (b0 & 0x80) !== 0, rsv: b0 & 0x70, opcode: b0 & 0x0f, mask, length, headerLength: at };
}

export function unmask(payload: Buffer, mask: Buffer): Buffer {
  const out = Buffer.allocUnsafe(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = payload[i]! ^ mask[i & 3]!;
  return out;
}

/** An unmasked (server-to-client) close frame; the reason is cut to fit a control frame. */
export function closeFrame(code: number, reason: string): Buffer {
  let r = Buffer.from(reason, 'utf8');
  if (r.length > 123) r = Buffer.from(`${Buffer.from(reason, 'utf8').subarray(0, 120).toString('utf8').replace(/\uFFFD+$/, '')}...`, 'utf8').subarray(0, 123);
  const payload = Buffer.alloc(2 + r.length);
  payload.writeUInt16BE(code, 0);
  r.copy(payload, 2);
  return Buffer.concat([Buffer.from([0x80 | OP_CLOSE, payload.length]), payload]);
}
