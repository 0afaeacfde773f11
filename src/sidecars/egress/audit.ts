import { closeSync, openSync, writeSync } from 'node:fs';

export interface AuditFinding {
  detector: string;
  rule: string;
  /** Masked by the DLP library; never the raw value. */
  masked: string;
  where: string;
  severity: string;
}

export interface AuditRecord {
  method: string;
  host: string;
  /** Path without the query string: queries can carry secrets the scanner missed. */
  path: string;
  route: string | null;
  decision: 'allow' | 'block' | 'redact' | 'error' | 'terminated';
  status?: number;
  reason?: string;
  stage?: string;
  findings?: AuditFinding[];
  ms?: number;
}

export type AuditSink = (record: AuditRecord) => void;

/**
 * One JSON line per request, to the audit file or the sidecar's log. File lines
 * are batched per event-loop turn and written with one synchronous append: a
 * write per request, or an async write that wakes a libuv thread, cost 15 % of
 * the proxy's CPU on a 2-core host. A page-cache append takes microseconds and
 * leaves no line in a user-space buffer after the turn that produced it.
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
  let scheduled: NodeJS.Immediate | undefined;
  const flush = (): void => {
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
      const line = { time: lastIso, bottle, event: 'egress-request', ...record };
      if (fd === undefined) return log(line);
      pending += `${JSON.stringify(line)}\n`;
      scheduled ??= setImmediate(flush);
    },
    close: () => {
      if (scheduled) clearImmediate(scheduled);
      flush();
      if (fd !== undefined) closeSync(fd);
      return Promise.resolve();
    },
  };
}

export function stripQuery(path: string): string {
  const i = path.indexOf('?');
  return i === -1 ? path : `${path.slice(0, i)}?…`;
}
