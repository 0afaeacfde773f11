import { LaunchError } from './errors.js';

const FULL = new Set(['ENOSPC', 'EDQUOT']);

/**
 * What the operator reads when a start fails for want of space: one line that
 * says where, that nothing was left behind, and what to do. Any other error is
 * returned unchanged. The bundle reports its own write failures in its log
 * text, so the message is searched too.
 */
export function startFailure(err: unknown, opts: { slug: string; home: string; resumed: boolean }): unknown {
  const code = fullCode(err);
  if (code === undefined) return err;
  const path = findPath(err) ?? opts.home;
  const kept = opts.resumed ? 'The bottle\'s workspace and state are kept; what this start created was removed.' : 'Nothing of the new bottle was left behind.';
  return new LaunchError(
    `cannot start ${opts.slug}: the file system holding ${path} is full (${code}). ${kept} ` +
      'Free some space there (`bot-bottle cleanup --state --all` deletes the state of every stopped bottle) and try again.',
  );
}

function fullCode(err: unknown, depth = 0): string | undefined {
  if (typeof err !== 'object' || err === null || depth > 5) return undefined;
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && FULL.has(code)) return code;
  const message = err instanceof Error ? err.message : '';
  // The bundle reports its own start-up failures as text: its audit reserve that does not fit is a full disk.
  if (/\bENOSPC\b|no space left on device|cannot reserve \d+ bytes/i.test(message)) return 'ENOSPC';
  if (/\bEDQUOT\b|disk quota exceeded/i.test(message)) return 'EDQUOT';
  return fullCode((err as { cause?: unknown }).cause, depth + 1);
}

/** Where the write failed: a copy names its destination in `dest` (its `path` is the source). */
function findPath(err: unknown, depth = 0): string | undefined {
  if (typeof err !== 'object' || err === null || depth > 5) return undefined;
  const path = (err as { dest?: unknown }).dest ?? (err as NodeJS.ErrnoException).path;
  if (typeof path === 'string' && path.length > 0) return path;
  return findPath((err as { cause?: unknown }).cause, depth + 1);
}
