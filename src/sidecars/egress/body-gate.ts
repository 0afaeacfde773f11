// Outbound DLP on a request body while it streams: bytes leave only once the
// scanner has seen HOLDBACK_CHARS past them, so a secret split across chunks
// is caught before any of it is forwarded. The body is read in whatever
// batches have arrived (not chunk by chunk), the common case (no finding) runs
// without a promise, and the bytes forwarded are the client's own buffers.
import type { IncomingMessage } from 'node:http';
import type { Finding, StreamScanner } from '../../dlp/index.js';
import type { RouteDlp } from '../../routes/model.js';
import type { AuditFinding } from './audit.js';
import { describe, HOLDBACK_CHARS, toAudit, type DlpPolicy, type SuperviseAsk } from './dlp-policy.js';
import { heldValue, type HeldValue } from './held-value.js';
import { relayedBytes } from './reclaim.js';
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

  /**
   * @param readAhead bytes scanned before the first byte is released (primeGatedBody): a
   *   finding in them is decided (the operator asked, the request held) before any upstream
   *   connection is taken. 0: release from the first batch on, keeping HOLDBACK_CHARS.
   */
  constructor(
    private readonly policy: DlpPolicy,
    private readonly dlp: RouteDlp,
    private readonly scanner: StreamScanner,
    private readonly ask: SuperviseAsk,
    private readonly readAhead = 0,
  ) {}

  /** Scans a batch (buffers in order); returns what may be forwarded now (a promise only when a finding needs the operator). */
  push(chunks: Buffer[]): Buffer[] | Promise<Buffer[]> {
    for (const c of chunks) {
      this.held.push(c);
      this.heldBytes += c.length;
    }
    return this.settle(this.scanner.pushBytes(chunks), () => {
      const keep = this.released === 0 && this.heldBytes < this.readAhead ? this.heldBytes : HOLDBACK_CHARS;
      return this.release(Math.max(0, this.heldBytes - keep));
    });
  }

  end(): Buffer[] | Promise<Buffer[]> {
    return this.settle(this.scanner.end(), () => this.release(this.heldBytes));
  }

  /** Handles the findings (the operator may be asked), then releases what `release` says. */
  private settle(found: Finding[], release: () => Buffer[]): Buffer[] | Promise<Buffer[]> {
    if (found.length === 0) return release();
    const handled = this.handle(found);
    return handled instanceof Promise ? handled.then(release) : release();
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

  /** The flagged values as the operator is asked about them; a value partly forwarded already has no `raw` (and blocks). */
  private heldValues(hits: Finding[], all: Finding[]): HeldValue[] {
    const text = this.heldText();
    return hits.map((f) => heldValue(f, text, 'body', all, this.released));
  }

  private handle(all: Finding[]): void | Promise<void> {
    this.findings.push(...toAudit(all, 'body'));
    const hits = this.policy.blocking(all, this.rawOf, this.ask.host);
    if (hits.length === 0) return;
    const what = describe(hits);
    switch (this.dlp.onMatch) {
      case 'block':
        throw new BlockError(block('outbound-dlp', `${what} in the request body`));
      case 'supervise':
        return this.policy.supervise(this.heldValues(hits, all), this.ask).then((b) => {
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
        const again = this.policy.blocking(this.policy.bytesScanner(this.dlp.outbound).scan(this.heldText()), () => undefined);
        if (again.length > 0) throw new BlockError(block('outbound-dlp', `${describe(again)} remains after redaction`));
        this.redacted = true;
        return;
      }
    }
  }
}

/**
 * The request body as the upstream client reads it: `req` through `gate`, as
 * an async iterable (undici takes one), so nothing is read from `req` until the
 * upstream is ready for more: the client's bytes wait in its socket, not in a
 * stream buffer (chunks that waited in an intermediate Readable outlived young
 * GCs and were freed only by full ones; docs/performance.md, "Egress RSS:
 * session 3"). What has arrived is scanned as one batch (up to BATCH_BYTES,
 * the client's own buffers, no copy), so a fast upload pays the per-scan
 * overhead once per batch, not once per TLS record. A block (or any error)
 * ends the iteration with that error; `onBlock` learns the verdict first.
 */
export async function* gatedBody(req: IncomingMessage, gate: BodyGate, onBlock: (b: Block) => void): AsyncGenerator<Buffer, void, undefined> {
  // Nothing is read from `req` before the first pull.
  yield* rest(new Arrivals(req), gate, onBlock, [], false);
}

/** A primed body: what the gate released first, and the rest as an iterable. */
export interface PrimedBody {
  body: AsyncGenerator<Buffer, void, undefined>;
  /** Stops reading `req` when `body` will never be iterated (the exchange ended before dispatch). */
  abandon(): void;
}

/**
 * gatedBody(), read until the gate releases its first bytes (or the body
 * ends) before the caller dispatches upstream. A request the gate holds for
 * the operator is then held before any upstream connection exists: a pooled
 * connection would sit idle meanwhile, and servers close idle connections after
 * a few seconds (node: 5 s), so the request died with "other side closed" and
 * the approval went nowhere. Rejects with the gate's error (onBlock first).
 */
export async function primeGatedBody(req: IncomingMessage, gate: BodyGate, onBlock: (b: Block) => void): Promise<PrimedBody> {
  const source = new Arrivals(req);
  try {
    for (;;) {
      const batch = source.take() ?? (await source.next());
      const released = batch === null ? gate.end() : gate.push(batch);
      const first = released instanceof Promise ? await released : released;
      if (batch === null || first.length > 0) {
        return { body: rest(source, gate, onBlock, first, batch === null), abandon: () => source.close() };
      }
    }
  } catch (err) {
    source.close();
    if (err instanceof BlockError) onBlock(err.verdict);
    throw err;
  }
}

async function* rest(source: Arrivals, gate: BodyGate, onBlock: (b: Block) => void, first: Buffer[], ended: boolean): AsyncGenerator<Buffer, void, undefined> {
  try {
    for (const b of first) {
      relayedBytes(b.length);
      yield b;
    }
    if (ended) return;
    for (;;) {
      const batch = source.take() ?? (await source.next());
      const released = batch === null ? gate.end() : gate.push(batch);
      for (const b of released instanceof Promise ? await released : released) {
        relayedBytes(b.length);
        yield b;
      }
      if (batch === null) return;
    }
  } catch (err) {
    if (err instanceof BlockError) onBlock(err.verdict);
    throw err;
  } finally {
    source.close();
  }
}

/** Bytes scanned at once when a body arrives faster than it is scanned. */
const BATCH_BYTES = 64 * 1024;

/**
 * `req`'s chunks as they arrive, as read batches. It flows only while fewer
 * than BATCH_BYTES wait, so a slow upstream pauses the client's socket.
 */
class Arrivals {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private ended = false;
  private failed: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly req: IncomingMessage) {
    req.on('data', this.onData);
    req.on('end', this.onEnd);
    req.on('error', this.onError);
    req.on('close', this.onClose);
  }

  /** What has arrived (in order), null at the end, undefined when nothing has yet. Throws the stream's error. */
  take(): Buffer[] | null | undefined {
    if (this.failed) throw this.failed;
    if (this.chunks.length > 0) {
      const batch = this.chunks;
      this.chunks = [];
      this.bytes = 0;
      if (!this.ended) this.req.resume();
      return batch;
    }
    return this.ended ? null : undefined;
  }

  /** take(), once something has arrived. */
  async next(): Promise<Buffer[] | null> {
    for (;;) {
      const batch = this.take();
      if (batch !== undefined) return batch;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  close(): void {
    this.req.off('data', this.onData);
    this.req.off('end', this.onEnd);
    this.req.off('error', this.onError);
    this.req.off('close', this.onClose);
    // Whatever the upstream did not take stays unread: the exchange answers the client.
    if (!this.ended) this.req.pause();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes >= BATCH_BYTES) this.req.pause();
    this.wake?.();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    this.wake?.();
  };

  private readonly onError = (err: Error): void => {
    this.failed ??= err;
    this.wake?.();
  };

  private readonly onClose = (): void => {
    if (!this.ended) this.failed ??= new Error('the client closed the connection before the request body ended');
    this.wake?.();
  };
}
