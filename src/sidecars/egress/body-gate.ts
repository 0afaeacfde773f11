// Outbound DLP on a request body while it streams: bytes leave only once the
// scanner has seen HOLDBACK_CHARS past them, so a secret split across chunks
// is caught before any of it is forwarded. The body is read in whatever
// batches have arrived (not chunk by chunk), the common case (no finding) runs
// without a promise, and the bytes forwarded are the client's own buffers.
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { Finding, StreamScanner } from '../../dlp/index.js';
import type { RouteDlp } from '../../plan/egress-route.js';
import type { AuditFinding } from './audit.js';
import { describe, HOLDBACK_CHARS, toAudit, type DlpPolicy, type SuperviseAsk } from './dlp-policy.js';
import { block, BlockError, type Block } from './verdict.js';

/** Same-length replacement keeps Content-Length valid while streaming. */
export function sameLengthMask(length: number): string {
  const label = '[REDACTED]';
  return length >= label.length ? label + '*'.repeat(length - label.length) : '*'.repeat(length);
}

/**
 * The scan-and-hold state of one body. Bodies are scanned as latin1 so one
 * char is one byte and finding offsets are byte offsets.
 */
export class BodyGate {
  /** Bytes forwarded so far. */
  private released = 0;
  /** Scanned bytes not yet forwarded, as the client's own buffers (no copies): at most HOLDBACK_CHARS between batches. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  readonly findings: AuditFinding[] = [];
  redacted = false;

  constructor(
    private readonly policy: DlpPolicy,
    private readonly dlp: RouteDlp,
    private readonly scanner: StreamScanner,
    private readonly ask: SuperviseAsk,
  ) {}

  /** Scans a batch (buffers in order); returns what may be forwarded now (a promise only when a finding needs the operator). */
  push(chunks: Buffer[]): Buffer[] | Promise<Buffer[]> {
    for (const c of chunks) {
      this.held.push(c);
      this.heldBytes += c.length;
    }
    const found = this.scanner.pushBytes(chunks);
    const next = (): Buffer[] => this.release(Math.max(0, this.heldBytes - HOLDBACK_CHARS));
    if (found.length === 0) return next();
    const handled = this.handle(found);
    return handled instanceof Promise ? handled.then(next) : next();
  }

  end(): Buffer[] | Promise<Buffer[]> {
    const found = this.scanner.end();
    const rest = (): Buffer[] => this.release(this.heldBytes);
    if (found.length === 0) return rest();
    const handled = this.handle(found);
    return handled instanceof Promise ? handled.then(rest) : rest();
  }

  private release(n: number): Buffer[] {
    const out: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const b = this.held[0]!;
      if (b.length <= left) {
        out.push(b);
        this.held.shift();
        left -= b.length;
      } else {
        out.push(b.subarray(0, left));
        this.held[0] = b.subarray(left);
        left = 0;
      }
    }
    this.heldBytes -= n;
    this.released += n;
    return out;
  }

  /** The held bytes [s, e) (offsets into what is held) as latin1. */
  private heldText(s = 0, e = this.heldBytes): string {
    return Buffer.concat(this.held).toString('latin1', s, e);
  }

  /** Overwrites held bytes from offset `at` with `text` (latin1), across buffer boundaries. */
  private overwrite(at: number, text: string): void {
    let off = 0;
    for (const b of this.held) {
      const from = Math.max(at, off);
      const to = Math.min(at + text.length, off + b.length);
      if (from < to) b.write(text.slice(from - at, to - at), from - off, to - from, 'latin1');
      off += b.length;
    }
  }

  private rawOf = (f: Finding): string | undefined => (f.start >= this.released ? this.heldText(f.start - this.released, f.end - this.released) : undefined);

  private handle(all: Finding[]): void | Promise<void> {
    this.findings.push(...toAudit(all, 'body'));
    const hits = this.policy.blocking(all, this.rawOf);
    if (hits.length === 0) return;
    const what = describe(hits);
    switch (this.dlp.onMatch) {
      case 'block':
        throw new BlockError(block('outbound-dlp', `${what} in the request body`));
      case 'supervise':
        return this.policy.supervise(hits, hits.map(this.rawOf), this.ask).then((b) => {
          if (b) throw new BlockError(b);
        });
      case 'redact': {
        for (const f of hits) {
          if (f.start < this.released) {
            throw new BlockError(block('outbound-dlp', `${what}; the match spans data already forwarded, so it cannot be redacted`));
          }
          this.overwrite(f.start - this.released, sameLengthMask(f.end - f.start));
        }
        // Re-scan what we still hold: redaction must leave nothing that blocks.
        const again = this.policy.blocking(this.policy.scanner(this.dlp.outbound).scan(this.heldText()), () => undefined);
        if (again.length > 0) throw new BlockError(block('outbound-dlp', `${describe(again)} remains after redaction`));
        this.redacted = true;
        return;
      }
    }
  }
}

/**
 * The request body as the upstream client reads it: `req` through `gate`.
 * What has arrived is scanned as one batch (up to BATCH_BYTES), so a fast
 * upload pays the per-scan overhead once per batch, not once per TLS record. A block
 * (or any error) destroys the stream; `onBlock` learns the verdict first.
 */
/** Bytes scanned at once when a body arrives faster than it is scanned. */
const BATCH_BYTES = 64 * 1024;

export function gatedBody(req: IncomingMessage, gate: BodyGate, onBlock: (b: Block) => void): Readable {
  /** A gate decision is pending (the operator is being asked). */
  let waiting = false;
  /** gate.end() was called. */
  let ending = false;
  let destroyed = false;
  const out = new Readable({
    highWaterMark: 256 * 1024,
    read() {
      pump();
    },
    destroy(err, cb) {
      destroyed = true;
      req.off('readable', pump);
      req.off('end', pump);
      cb(err);
    },
  });
  const fail = (err: unknown): void => {
    if (err instanceof BlockError) onBlock(err.verdict);
    out.destroy(err as Error);
  };
  /** Forwards a gate result; false when the caller must stop pumping (backpressure or a pending decision). */
  const forward = (bufs: Buffer[]): boolean => {
    let more = true;
    for (const b of bufs) more = out.push(b);
    return more;
  };
  const deliver = (r: Buffer[] | Promise<Buffer[]>, last: boolean): boolean => {
    if (r instanceof Promise) {
      waiting = true;
      r.then((bufs) => {
        waiting = false;
        if (destroyed) return;
        forward(bufs);
        if (last) out.push(null);
        else pump();
      }, fail);
      return false;
    }
    const more = forward(r);
    if (last) out.push(null);
    return more;
  };
  /** Read but not yet scanned: one scan per batch, not per TLS record. */
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let flushQueued = false;
  /** Scans the pending batch; false when pumping must stop (backpressure or a pending decision). */
  const scanPending = (): boolean => {
    const batch = pending;
    pending = [];
    pendingBytes = 0;
    return deliver(gate.push(batch), false);
  };
  function pump(): void {
    try {
      while (!waiting && !ending && !destroyed) {
        const chunk = req.read() as Buffer | null;
        if (chunk !== null) {
          pending.push(chunk);
          pendingBytes += chunk.length;
          if (pendingBytes >= BATCH_BYTES && !scanPending()) return;
          continue;
        }
        if (req.readableEnded) {
          if (pendingBytes > 0) {
            if (!scanPending()) return;
            continue;
          }
          ending = true;
          deliver(gate.end(), true);
          return;
        }
        // Nothing more buffered now: scan what there is after this turn of the event
        // loop, unless more arrives first (a fast upload then costs one scan per batch).
        if (pendingBytes > 0 && !flushQueued) {
          flushQueued = true;
          setImmediate(flushSoon);
        }
        return;
      }
    } catch (err) {
      fail(err);
    }
  }
  function flushSoon(): void {
    flushQueued = false;
    if (waiting || ending || destroyed || pendingBytes === 0) return;
    try {
      if (scanPending()) pump();
    } catch (err) {
      fail(err);
    }
  }
  req.on('readable', pump);
  req.on('end', pump);
  req.on('error', fail);
  return out;
}
