import { randomBytes } from 'node:crypto';
import { closeSync, constants, ftruncateSync, openSync, unlinkSync, writeSync } from 'node:fs';

/** Room kept beside the audit log: thousands of lines, the requests in flight when the disk fills and hours of one-per-second refusal summaries. */
export const AUDIT_RESERVE_BYTES = 2 * 1024 * 1024;
const CHUNK = 64 * 1024;

/** Errors that mean "no room": the disk or the owner's quota is full. */
export function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * A file of `bytes` real blocks on the audit log's file system. The agent's
 * workspace is a host folder on the same disk, so it can fill that disk; when
 * an audit append then fails for lack of room, the reserve is given back (truncated)
 * and the append retried, so the lines of requests already forwarded are
 * written, and egress refuses everything new until it can hold the reserve again.
 * Random bytes, not zeros: a compressing or deduplicating file system
 * (btrfs, ZFS) would store zeros in no space at all.
 */
export class AuditReserve {
  private readonly fd: number;
  held = false;

  constructor(
    readonly path: string,
    readonly bytes: number,
  ) {
    // A new file, never one found there: the state folder is not trusted (a planted symlink would be truncated).
    rmQuiet(path);
    this.fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    if (!this.fill()) {
      closeSync(this.fd);
      rmQuiet(path);
      throw Object.assign(new Error(`no room for ${bytes} bytes`), { code: 'ENOSPC' });
    }
  }

  /** Takes the room back; false (holding nothing) when the disk has not got it. Other errors throw. */
  fill(): boolean {
    try {
      for (let at = 0; at < this.bytes; ) {
        const chunk = randomBytes(Math.min(CHUNK, this.bytes - at));
        for (let off = 0; off < chunk.length; ) off += writeSync(this.fd, chunk, off, chunk.length - off, at + off);
        at += chunk.length;
      }
    } catch (err) {
      ftruncateSync(this.fd, 0);
      if (isNoSpace(err)) return false;
      throw err;
    }
    this.held = true;
    return true;
  }

  release(): void {
    ftruncateSync(this.fd, 0);
    this.held = false;
  }

  close(): void {
    closeSync(this.fd);
    rmQuiet(this.path);
  }
}

function rmQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}
