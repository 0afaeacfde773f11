import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * One JSON object per line: who did what, when, and why. Appends of a single
 * small line with O_APPEND land whole even with several writers (consoles,
 * sidecars), so no lock is needed.
 */
export interface AuditEvent {
  event: string;
  by: string;
  slug: string;
  id: string;
  kind?: string;
  reason?: string;
  [key: string]: unknown;
}

export async function appendAudit(file: string, event: AuditEvent): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await appendFile(file, `${JSON.stringify({ at: new Date().toISOString(), ...event })}\n`, { mode: 0o600 });
}
