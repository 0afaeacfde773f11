import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { AUDIT_RESERVE_BYTES, AuditReserve, isNoSpace } from './audit-reserve.js';

export interface AuditFinding {
  detector: string;
  rule: string;
  /** `****` or a vendor prefix and `****` (src/dlp/mask.ts); never a character of the value. */
  masked: string;
  /** The part of the exchange (`path`, `header:NAME`, `header name`, `body`, `response`, `websocket`...). */
  where: string;
  /** The form it was found in (`raw`, `hex`, `base64`, `url`...). */
  view: string;
  /** Chars of that part the match covers (in its encoded form). */
  length: number;
  severity: string;
}

export interface AuditRecord {
  method: string;
  host: string;
  /** Path without the query string: queries can carry secrets the scanner missed. */
  path: string;
  route: string | null;
  decision: 'allow' | 'block' | 'redact' | 'error' | 'terminated';
  status?: number | undefined;
  reason?: string | undefined;
  stage?: string | undefined;
  findings?: AuditFinding[] | undefined;
  ms?: number | undefined;
}

export type AuditSink = (record: AuditRecord) => void;

export interface Audit {
  write: AuditSink;
  /**
   * Why egress must refuse requests now: their audit lines could not be
   * written (the disk is full, an I/O error). Undefined while the audit works.
   */
  down: () => string | undefined;
  close: () => Promise<void>;
}

/** The stage of refusals made because the audit is down (see `createAudit`). */
export const AUDIT_STAGE = 'audit';

/**
 * One JSON line per request, to the audit file or the sidecar's log. File lines
 * are batched and written with one synchronous append at most every
 * FLUSH_MS (sooner when FLUSH_BYTES wait), on close and at process exit: a
 * write per request, or an async write that wakes a libuv thread, cost 15 %
 * of the proxy's CPU on a 2-core host, and one append per event-loop turn
 * still 5 % (session 4 profile). What a SIGKILL can lose is bounded by
 * FLUSH_MS; a page-cache append takes microseconds.
 *
 * Fail closed: when an append fails, `down()` says why and egress refuses new
 * requests (503) until an append works again. Batching means a request's line
 * is written after it was forwarded, so the room for those lines is held in
 * advance: a reserve file beside the log (audit-reserve.ts) that is given back
 * when the disk is full. While down, refusals are counted into one
 * `egress-audit-degraded` line a second instead of one line each, so an agent
 * that keeps knocking cannot use the reserve up; every ~RECOVER_MS egress tries
 * to take the reserve back and, once it holds it, serves again.
 */
export function createAudit(
  bottle: string,
  file: string | undefined,
  log: (event: Record<string, unknown>) => void,
): Audit {
  let fd: number | undefined;
  try {
    // O_NOFOLLOW: a symlink planted in the state folder must not redirect the audit.
    fd = file === undefined ? undefined : openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    throw new Error(`egress.auditLog ${file}: cannot open for appending: ${(err as Error).message}`, { cause: err });
  }
  let reserve: AuditReserve | undefined;
  if (fd !== undefined) {
    try {
      reserve = new AuditReserve(`${file}.reserve`, AUDIT_RESERVE_BYTES);
    } catch (err) {
      closeSync(fd);
      throw new Error(`egress.auditLog ${file}: cannot reserve ${AUDIT_RESERVE_BYTES} bytes beside it for the audit (${(err as Error).message}); free space on that disk`, { cause: err });
    }
  }
  let down: string | undefined;
  /** performance.now() when the audit went down. */
  let downSince = 0;
  let refusedWhileDown = 0;
  let recovering: NodeJS.Timeout | undefined;
  let pending = '';
  /** Bytes of an append that failed part-way (a line may be cut anywhere, even inside a UTF-8 char). */
  let unwritten: Buffer | undefined;
  let scheduled: NodeJS.Timeout | undefined;
  const head = `","bottle":${JSON.stringify(bottle)},"event":"egress-request"`;
  // One ISO timestamp per millisecond, not per record: at thousands of requests/s
  // formatting dates showed in the profile.
  let lastMs = -1;
  let lastIso = '';
  const now = (): string => {
    const ms = Date.now();
    if (ms !== lastMs) {
      lastMs = ms;
      lastIso = new Date(ms).toISOString();
    }
    return lastIso;
  };

  /** Appends what waits; the error when some of it could not be written (kept for the next try). */
  const append = (): unknown => {
    if (fd === undefined) return undefined;
    const text = pending.length > 0 ? Buffer.from(pending) : undefined;
    pending = '';
    const data = unwritten && text ? Buffer.concat([unwritten, text]) : (unwritten ?? text);
    unwritten = undefined;
    if (!data) return undefined;
    let off = 0;
    try {
      // writeSync may write part of the buffer (a disk that fills mid-append).
      while (off < data.length) off += writeSync(fd, data, off, data.length - off);
      return undefined;
    } catch (err) {
      unwritten = data.subarray(off);
      if (unwritten.length > MAX_UNWRITTEN) {
        log({ event: 'egress-audit-lost', bytes: unwritten.length, note: 'audit lines dropped: the audit log could not be written for too long' });
        unwritten = undefined;
      }
      return err;
    }
  };

  const goDown = (err: unknown): void => {
    const e = err as NodeJS.ErrnoException;
    if (down === undefined) {
      // The reason goes to the agent too: no host path in it.
      down = `egress cannot write its audit log (${e.message.split(',')[0]}), and no request leaves without an audit line: requests are refused until the operator frees space on the host`;
      downSince = performance.now();
      log({ event: 'egress-audit-down', file, error: e.message, note: 'refusing requests (503) until the audit log can be written' });
      recovering = setInterval(recover, RECOVER_MS);
      recovering.unref();
    }
  };

  const flush = (): void => {
    if (scheduled) clearTimeout(scheduled);
    scheduled = undefined;
    let err = append();
    if (err === undefined) return;
    const first = down === undefined;
    goDown(err);
    if (isNoSpace(err) && reserve?.held) {
      // The reserve is for exactly this: the lines of requests already forwarded.
      reserve.release();
      err = append();
      if (err !== undefined && first) log({ event: 'egress-audit-error', error: (err as Error).message, note: 'even the released reserve did not hold the pending lines' });
    }
  };

  const summarise = (): void => {
    if (refusedWhileDown === 0) return;
    pending += `{"time":"${now()}","bottle":${JSON.stringify(bottle)},"event":"egress-audit-degraded","refused":${refusedWhileDown},"reason":${JSON.stringify(down)}}\n`;
    refusedWhileDown = 0;
  };

  const recover = (): void => {
    summarise();
    if (append() !== undefined) return;
    try {
      if (reserve && !reserve.held && !reserve.fill()) return;
    } catch {
      return;
    }
    down = undefined;
    clearInterval(recovering);
    recovering = undefined;
    log({ event: 'egress-audit-recovered', file });
  };

  // An exit that skips close() (an uncaught error) still writes what is pending.
  if (fd !== undefined) process.on('exit', flush);
  return {
    write: (record) => {
      const time = now();
      if (fd === undefined) return log({ time, bottle, event: 'egress-request', ...record });
      // While down nothing new is forwarded: records of requests that began since
      // (or of refusals without a duration: CONNECT, parse errors) are only counted.
      if (down !== undefined && (record.stage === AUDIT_STAGE || record.ms === undefined || performance.now() - record.ms >= downSince)) {
        refusedWhileDown++;
        return;
      }
      // The line is built as text: spreading the record into a new object showed in the profile.
      const body = JSON.stringify(record);
      pending += `{"time":"${time}${head}${body.length > 2 ? `,${body.slice(1)}` : '}'}\n`;
      if (pending.length >= FLUSH_BYTES) flush();
      else scheduled ??= setTimeout(flush, FLUSH_MS);
    },
    down: () => down,
    close: () => {
      summarise();
      flush();
      clearInterval(recovering);
      process.off('exit', flush);
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      reserve?.close();
      return Promise.resolve();
    },
  };
}

/** Longest a line waits in memory before it is appended. */
const FLUSH_MS = 10;
/** Pending text that is appended at once, whatever the time. */
const FLUSH_BYTES = 256 * 1024;
/** How often a down audit tries to take its reserve back. */
const RECOVER_MS = 1000;
/** Unwritten audit bytes kept in memory while appends fail. */
const MAX_UNWRITTEN = 4 * FLUSH_BYTES;

export function stripQuery(path: string): string {
  const i = path.indexOf('?');
  return i === -1 ? path : `${path.slice(0, i)}?…`;
}
