import { createWriteStream, type WriteStream } from 'node:fs';

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

/** One JSON line per request, to the audit file or the sidecar's log. */
export function createAudit(
  bottle: string,
  file: string | undefined,
  log: (event: Record<string, unknown>) => void,
): { write: AuditSink; close: () => Promise<void> } {
  let stream: WriteStream | undefined;
  if (file) {
    stream = createWriteStream(file, { flags: 'a', mode: 0o600 });
    stream.on('error', (err) => log({ event: 'egress-audit-error', error: err.message }));
  }
  return {
    write: (record) => {
      const line = { time: new Date().toISOString(), bottle, event: 'egress-request', ...record };
      if (stream) stream.write(`${JSON.stringify(line)}\n`);
      else log(line);
    },
    close: () => new Promise((resolve) => (stream ? stream.end(() => resolve()) : resolve())),
  };
}

export function stripQuery(path: string): string {
  const i = path.indexOf('?');
  return i === -1 ? path : `${path.slice(0, i)}?…`;
}
