import { closeSync, openSync, writeSync } from 'node:fs';

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

/**
 * One JSON line per request, to the audit file or the sidecar's log. File lines
 * are batched and written with one synchronous append at most every
 * FLUSH_MS (sooner when FLUSH_BYTES wait), on close and at process exit: a
 * write per request, or an async write that wakes a libuv thread, cost 15 %
 * of the proxy's CPU on a 2-core host, and one append per event-loop turn
 * still 5 % (session 4 profile). What a SIGKILL can lose is bounded by
 * FLUSH_MS; a page-cache append takes microseconds.
 */
export function createAudit(
  bottle: string,
  file: string | undefined,
  log: (event: Record<string, unknown>) => void,
): { write: AuditSink; close: () => Promise<void> } {
  let fd: number | undefined;
  try {
    fd = file === undefined ? undefined : openSync(file, 'a', 0o600);
  } catch (err) {
    throw new Error(`egress.auditLog ${file}: cannot open for appending: ${(err as Error).message}`, { cause: err });
  }
  let failed = false;
  let pending = '';
  let scheduled: NodeJS.Timeout | undefined;
  const flush = (): void => {
    if (scheduled) clearTimeout(scheduled);
    scheduled = undefined;
    if (fd === undefined || pending.length === 0) return;
    const batch = pending;
    pending = '';
    try {
      writeSync(fd, batch);
    } catch (err) {
      // Reported once per failure streak; the requests themselves are not held up.
      if (!failed) log({ event: 'egress-audit-error', error: (err as Error).message });
      failed = true;
      return;
    }
    failed = false;
  };
  // An exit that skips close() (an uncaught error) still writes what is pending.
  if (fd !== undefined) process.on('exit', flush);
  // The fixed head of every line; the record's own JSON follows it.
  const head = `","bottle":${JSON.stringify(bottle)},"event":"egress-request"`;
  // One ISO timestamp per millisecond, not per record: at thousands of requests/s
  // formatting dates showed in the profile.
  let lastMs = -1;
  let lastIso = '';
  return {
    write: (record) => {
      const now = Date.now();
      if (now !== lastMs) {
        lastMs = now;
        lastIso = new Date(now).toISOString();
      }
      if (fd === undefined) return log({ time: lastIso, bottle, event: 'egress-request', ...record });
      // The line is built as text: spreading the record into a new object showed in the profile.
      const body = JSON.stringify(record);
      pending += `{"time":"${lastIso}${head}${body.length > 2 ? `,${body.slice(1)}` : '}'}\n`;
      if (pending.length >= FLUSH_BYTES) flush();
      else scheduled ??= setTimeout(flush, FLUSH_MS);
    },
    close: () => {
      flush();
      process.off('exit', flush);
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      return Promise.resolve();
    },
  };
}

/** Longest a line waits in memory before it is appended. */
const FLUSH_MS = 10;
/** Pending text that is appended at once, whatever the time. */
const FLUSH_BYTES = 256 * 1024;

export function stripQuery(path: string): string {
  const i = path.indexOf('?');
  return i === -1 ? path : `${path.slice(0, i)}?…`;
}
