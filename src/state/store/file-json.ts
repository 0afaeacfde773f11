import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { safeParse } from 'zod/mini';
import type { core } from 'zod';
import '../../util/json-file.js'; // zod/mini's messages (the locale is configured there)
import { assertNoLinks, readPlainFileSync } from '../../util/safe-fs.js';

/*
 * The file side of every store: the state folder is hostile (the agent's home
 * lives in it, an operator may have edited it), so a read never follows a
 * link, never blocks on a FIFO and checks the content against its schema; a
 * write is atomic (a crash never leaves half a file) and refuses a link where
 * the file should be (the atomic writer would write through it).
 * zod/mini only: egress loads this in the sidecar bundle.
 */

export interface JsonRead<T> {
  value: T;
  /** Digest of the bytes read: what a writer and a reader compare to know they mean the same version. */
  digest: string;
}

export function digestOf(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

/** Undefined when the file does not exist. `what` names the file in errors ("routes file"). */
export function readJson<S extends core.$ZodType>(base: string, file: string, schema: S, what: string): JsonRead<core.output<S>> | undefined {
  let bytes: Buffer;
  try {
    assertNoLinks(base, file);
    bytes = readPlainFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${what} ${file}: cannot read it: ${(err as NodeJS.ErrnoException).code === 'ELOOP' ? 'it is a symbolic link' : (err as Error).message}`, { cause: err });
  }
  const digest = digestOf(bytes);
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw Object.assign(new Error(`${what} ${file} is not JSON: ${(err as Error).message}`, { cause: err }), { digest });
  }
  const parsed = safeParse(schema, raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw Object.assign(new Error(`${what} ${file} is invalid:\n  ${issues.join('\n  ')}`), { digest });
  }
  return { value: parsed.data, digest };
}

/** The digest of what was read when a read failed on its content (undefined when nothing was read). */
export function digestOfFailedRead(err: unknown): string | undefined {
  const d = (err as { digest?: unknown } | null)?.digest;
  return typeof d === 'string' ? d : undefined;
}

/** Writes `value` as pretty JSON; returns the digest of the bytes written. */
export async function writeJson(base: string, file: string, value: unknown, opts: { mode?: number } = {}): Promise<string> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  assertNoLinks(base, file);
  const text = `${JSON.stringify(value, null, 2)}\n`;
  await writeAtomic(file, text, opts.mode ?? 0o600);
  return digestOf(text);
}

/**
 * A new file beside the target (created exclusively, so never through a
 * planted link), synced, then renamed over the target (which replaces a link
 * there, never writes through it). Not write-file-atomic: egress writes its
 * acknowledgements while it may be asked to stop, and that library's
 * signal-exit hooks re-raise a SIGTERM once the daemon's own handler has run,
 * killing it before its clean shutdown.
 */
async function writeAtomic(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', mode);
  try {
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/**
 * Read-modify-write of a shared file by two consoles at once would lose one
 * change, so each rewrite holds a directory lock (mkdir is atomic). Bounded:
 * a lock older than 30 s is considered abandoned by a crashed process.
 */
export async function withLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  for (let attempt = 0; ; attempt++) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > 30_000) await rmdir(lock).catch(() => undefined);
      else if (attempt >= 200) throw new Error(`${lock} is held by another process; retry, or remove it if no console is running`, { cause: err });
      else await new Promise((r) => setTimeout(r, 25));
    }
  }
  try {
    return await fn();
  } finally {
    await rmdir(lock).catch(() => undefined);
  }
}
