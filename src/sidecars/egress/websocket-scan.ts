import { StringDecoder } from 'node:string_decoder';
import type { Finding, Scanner, StreamScanner } from '../../dlp/index.js';
import { heldValue, type HeldValue } from './held-value.js';
import {
  CLOSE_PROTOCOL_ERROR,
  CLOSE_TOO_BIG,
  OP_BINARY,
  OP_CLOSE,
  OP_CONTINUATION,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  parseFrameHeader,
  unmask,
  WsCloseError,
  type FrameHeader,
} from './websocket-frames.js';

/** Default cap on one message (all its fragments) the scanner must see. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Stream text kept before the newest push, so a finding that starts in the scanner's carry can be read back. */
const KEPT_CHARS = 64 * 1024;

export interface ClientFrameFilterOptions {
  /** One scanner for the whole connection: a secret split across frames or messages is still seen whole. */
  stream: StreamScanner;
  /** For control-frame payloads (ping/pong/close reasons can carry up to 125 bytes). */
  oneShot: Scanner;
  /**
   * Findings that must stop the connection (filtered by severity and approvals); `rawOf` gives a
   * finding's matched text (undefined when it is no longer kept), for values the operator approved.
   */
  blocking: (findings: Finding[], rawOf: (f: Finding) => string | undefined) => Finding[];
  maxMessageBytes?: number;
  /**
   * Hold a message with a blocking finding for the operator (route onMatch
   * supervise) instead of refusing it: `pending` says what is asked, and
   * nothing after the message is read until `release()`.
   */
  hold?: boolean;
}

/** A message held for the operator: the values to ask about (never sent upstream until released). */
export interface WsHold {
  values: HeldValue[];
  all: Finding[];
}

/** Thrown when a frame carries a blocking finding: the frame and any held fragments are dropped. */
export class WsDlpError extends Error {
  constructor(
    readonly blocking: Finding[],
    readonly all: Finding[],
  ) {
    super('outbound DLP finding in a WebSocket message');
    this.name = 'WsDlpError';
  }
}

/**
 * Client-to-upstream WebSocket frames: validated, unmasked for the scanner,
 * and released as their original bytes. Complete frames of a message are held
 * until its final fragment has been scanned (receivers only act on whole
 * messages, so this costs no latency in practice), so a secret split across
 * fragments never leaves; control frames pass at once. A secret split across
 * two separate messages is caught when its second part arrives, and that
 * message is not forwarded. With `hold`, a message with a blocking value
 * waits for the operator instead (see `pending`).
 */
export class ClientFrameFilter {
  private chunks: Buffer[] = [];
  private have = 0;
  private header: FrameHeader | undefined;
  private held: Buffer[] = [];
  private message: { decoder: StringDecoder; bytes: number } | undefined;
  private started = false;
  /** The stream's recent text (what was pushed to `stream`), from absolute offset `keptBase`. */
  private kept = '';
  private keptBase = 0;
  private readonly max: number;
  /** Chars pushed to the stream scanner so far, and where the current message's text starts. */
  private streamed = 0;
  private messageStart = 0;
  /** Findings that did not block (warn, or approved by the operator), for the audit line. */
  readonly findings: Finding[] = [];
  /** The message waiting for the operator; set by push(), cleared by release(). */
  pending: WsHold | undefined;

  constructor(private readonly opts: ClientFrameFilterOptions) {
    this.max = opts.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  }

  /** Feeds client bytes; returns the frames (original bytes) that may go upstream now. Throws WsCloseError / WsDlpError. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.have += chunk.length;
    const out: Buffer[] = [];
    // Each pass consumes one whole frame (at least 2 bytes), so this ends with the input;
    // a held message stops it: later frames wait unread behind it, in order.
    while (!this.pending) {
      if (!this.header) {
        const h = parseFrameHeader(this.peek(14));
        if (!h) break;
        this.validate(h);
        this.header = h;
      }
      const total = this.header.headerLength + this.header.length;
      if (this.have < total) break;
      const frame = this.take(total);
      const h = this.header;
      this.header = undefined;
      out.push(...this.onFrame(h, frame));
    }
    return out;
  }

  /**
   * The operator allowed the held message: its frames (once its last fragment
   * has arrived and been scanned) and whatever follows that may go now. May set
   * `pending` again for a later message.
   */
  release(): Buffer[] {
    const p = this.pending;
    if (!p) return [];
    this.pending = undefined;
    this.findings.push(...p.all);
    const out: Buffer[] = [];
    if (!this.message) {
      out.push(...this.held);
      this.held = [];
    }
    out.push(...this.push(Buffer.alloc(0)));
    return out;
  }

  private validate(h: FrameHeader): void {
    if (!h.mask) throw new WsCloseError(CLOSE_PROTOCOL_ERROR, 'client frames must be masked');
    if (h.rsv !== 0) throw new WsCloseError(CLOSE_PROTOCOL_ERROR, 'RSV bits set but no extension was negotiated');
    const op = h.opcode;
    if (op >= 0x8) {
      if (op !== OP_CLOSE && op !== OP_PING && op !== OP_PONG) throw new WsCloseError(CLOSE_PROTOCOL_ERROR, `reserved opcode 0x${op.toString(16)}`);
      if (!h.fin || h.length > 125) throw new WsCloseError(CLOSE_PROTOCOL_ERROR, 'control frames must be unfragmented and at most 125 bytes');
      return;
    }
    if (op !== OP_CONTINUATION && op !== OP_TEXT && op !== OP_BINARY) throw new WsCloseError(CLOSE_PROTOCOL_ERROR, `reserved opcode 0x${op.toString(16)}`);
    if (op === OP_CONTINUATION && !this.message) throw new WsCloseError(CLOSE_PROTOCOL_ERROR, 'continuation frame outside a fragmented message');
    if (op !== OP_CONTINUATION && this.message) throw new WsCloseError(CLOSE_PROTOCOL_ERROR, 'new message before the previous one finished');
    // Checked on the header, before buffering any of the payload.
    if ((this.message?.bytes ?? 0) + h.length > this.max) {
      throw new WsCloseError(CLOSE_TOO_BIG, `message larger than the ${this.max}-byte limit egress scans`);
    }
  }

  private onFrame(h: FrameHeader, frame: Buffer): Buffer[] {
    const payload = unmask(frame.subarray(h.headerLength), h.mask!);
    if (h.opcode >= 0x8) {
      // A close payload starts with a 2-byte code; the rest (and ping/pong data) is text the client chose.
      // As UTF-8, like messages: ASCII (every token) reads the same, and disguising chars read as chars.
      const text = (h.opcode === OP_CLOSE ? payload.subarray(2) : payload).toString('utf8');
      this.check(text.length > 0 ? this.opts.oneShot.scan(text) : [], (f) => text.slice(f.start, f.end), false);
      if (h.opcode === OP_CLOSE) {
        // Fragments held so far were scanned; let them go before the close.
        const out = [...this.held, frame];
        this.held = [];
        return out;
      }
      return [frame];
    }
    // Text and binary messages as UTF-8 (the decoder keeps code points split across fragments): findings
    // here only block, so offsets need not be bytes, and binary messages often carry text. Invalid bytes
    // become U+FFFD; ASCII, and so every token, reads the same either way.
    let sep = '';
    if (!this.message) {
      this.message = { decoder: new StringDecoder('utf8'), bytes: 0 };
      // A message boundary is a token boundary (token rules anchor on it).
      sep = this.started ? '\n' : '';
      this.started = true;
      this.messageStart = this.streamed + sep.length;
    }
    const m = this.message;
    m.bytes += h.length;
    const text = sep + m.decoder.write(payload) + (h.fin ? m.decoder.end() : '');
    this.keep(text);
    this.streamed += text.length;
    this.check(this.opts.stream.push(text), this.streamRawOf, true);
    this.held.push(frame);
    if (!h.fin) return [];
    this.message = undefined;
    if (this.pending) return [];
    const out = this.held;
    this.held = [];
    return out;
  }

  private keep(text: string): void {
    this.kept += text;
    const drop = this.kept.length - text.length - KEPT_CHARS;
    if (drop > 0) {
      this.kept = this.kept.slice(drop);
      this.keptBase += drop;
    }
  }

  private streamRawOf = (f: Finding): string | undefined => (f.start >= this.keptBase && f.end <= this.keptBase + this.kept.length ? this.kept.slice(f.start - this.keptBase, f.end - this.keptBase) : undefined);

  private check(found: Finding[], rawOf: (f: Finding) => string | undefined, data: boolean): void {
    if (found.length === 0) return;
    const hits = this.opts.blocking(found, rawOf);
    if (hits.length === 0) {
      this.findings.push(...found);
      return;
    }
    // Only a value wholly inside the message not yet sent can be held: a control frame passes at once,
    // and a match reaching back into an earlier message is partly upstream already.
    const holdable = data && this.opts.hold && hits.every((f) => f.start >= this.messageStart && rawOf(f) !== undefined);
    if (!holdable) throw new WsDlpError(hits, found);
    this.pending = { values: hits.map((f) => heldValue(f, this.kept, 'websocket message', found, this.keptBase, true)), all: found };
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0];
    if (!first) return Buffer.alloc(0);
    if (first.length >= n || this.chunks.length === 1) return first;
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined;
  }

  private take(n: number): Buffer {
    const joined = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const frame = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.have -= n;
    return frame;
  }
}
