import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { bottleStatePaths } from '../state/paths.js';
import { CHECKS, type CheckId, type CheckResult } from './checks.js';

/** The last launch's containment self-test, kept in the bottle's state for `info`. */
export const ContainmentRecordSchema = z.strictObject({
  at: z.string(),
  result: z.enum(['passed', 'failed', 'skipped']),
  /** Why it was skipped or failed, in one line. */
  reason: z.string().optional(),
  ms: z.number().optional(),
  checks: z.array(
    z.strictObject({
      id: z.enum(Object.keys(CHECKS) as [CheckId, ...CheckId[]]),
      status: z.enum(['passed', 'failed', 'skipped']),
      detail: z.string(),
    }),
  ),
});
export type ContainmentRecord = z.infer<typeof ContainmentRecordSchema>;

export function containmentRecordFile(slug: string, home: string): string {
  return join(bottleStatePaths(slug, home).dir, 'containment.json');
}

/** Atomic (a reader never sees half a file: a temporary file renamed over it), not fsynced: it is a report, and the agent waits for it. */
export function writeContainmentRecord(slug: string, home: string, record: ContainmentRecord): void {
  const file = containmentRecordFile(slug, home);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(ContainmentRecordSchema.parse(record), null, 2)}\n`, { mode: 0o600, flag: 'w' });
  renameSync(tmp, file);
}

/** The record, or undefined when there is none; a damaged file (the state folder is untrusted) reads as an error line. */
export function readContainmentRecord(slug: string, home: string): ContainmentRecord | { damaged: string } | undefined {
  const file = containmentRecordFile(slug, home);
  if (!existsSync(file)) return undefined;
  try {
    const parsed = ContainmentRecordSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return parsed.success ? parsed.data : { damaged: `${file}: ${parsed.error.issues[0]?.message ?? 'invalid'}` };
  } catch (err) {
    return { damaged: `${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
}

/** One line for `info` and the launch log. */
export function describeRecord(record: ContainmentRecord): string {
  if (record.result === 'skipped') return `SKIPPED at ${record.at}: ${record.reason ?? 'turned off'}`;
  if (record.result === 'failed') return `FAILED at ${record.at}: ${record.reason ?? failedChecks(record.checks)}`;
  const skipped = record.checks.filter((c) => c.status === 'skipped').map((c) => `${c.id} (${c.detail})`);
  const passed = record.checks.filter((c) => c.status === 'passed').length;
  return `passed at ${record.at}: ${passed} checks${record.ms !== undefined ? ` in ${record.ms} ms` : ''}${skipped.length > 0 ? `; skipped ${skipped.join(', ')}` : ''}`;
}

export function failedChecks(checks: readonly CheckResult[]): string {
  return checks
    .filter((c) => c.status === 'failed')
    .map((c) => `${c.id}: ${c.detail}`)
    .join('; ');
}
