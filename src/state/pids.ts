import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { z } from 'zod';
import { bottleStatePaths } from './paths.js';
import { bootId, identify, MAX_PID, processState, type ProcessIdentity, type ProcessState } from './process-identity.js';

const Identity = z.strictObject({
  pid: z.number().int().min(2).max(MAX_PID),
  start: z.number().int().nonnegative(),
});

/**
 * The processes of a running bottle, each with its identity
 * (`process-identity.ts`). A role is absent until its process exists.
 */
export const PidsSchema = z.strictObject({
  boot: z.string().regex(/^[0-9a-f-]{36}$/, 'expected a boot id (/proc/sys/kernel/random/boot_id)'),
  /** The `bot-bottle start`/`resume` process that owns the bottle and tears it down. */
  cli: Identity.optional(),
  /** The sandboxing tool's host process (bwrap). */
  sandbox: Identity.optional(),
  /** The sandbox's pid 1 as the host sees it: killing it ends the whole pid namespace. */
  init: Identity.optional(),
  /** The sidecar bundle. */
  sidecars: Identity.optional(),
});
export type Pids = z.infer<typeof PidsSchema>;
export type PidRole = Exclude<keyof Pids, 'boot'>;

export const ROLE_NAMES: Record<PidRole, string> = {
  cli: 'launching CLI',
  sandbox: 'sandbox',
  init: "sandbox's pid 1",
  sidecars: 'sidecar bundle',
};

/** pids.json is small; anything bigger (or not a regular file) was not written by us. */
const MAX_BYTES = 4096;

export function pidsFile(slug: string, home: string): string {
  return join(bottleStatePaths(slug, home).runDir, 'pids.json');
}

export type PidsRead = { pids: Pids } | { problem: string };

/**
 * The state folder is untrusted input: the file must be a regular file (no
 * symlink followed), small, and every pid a real process number (never 0,
 * -1 or a group). Undefined when there is no file (the bottle is not running).
 */
export function readPids(file: string): PidsRead | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    return { problem: `${file} cannot be read (${code === 'ELOOP' ? 'it is a symlink' : (code ?? String(err))})` };
  }
  let text: string;
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return { problem: `${file} is not a regular file` };
    if (stat.size > MAX_BYTES) return { problem: `${file} is ${stat.size} bytes; a pids file is under ${MAX_BYTES}` };
    const buf = Buffer.alloc(MAX_BYTES + 1);
    const n = readSync(fd, buf, 0, buf.length, 0);
    text = buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { problem: `${file} is not JSON: ${(err as Error).message}` };
  }
  const parsed = PidsSchema.safeParse(raw);
  if (!parsed.success) {
    return { problem: `${file} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}` };
  }
  return { pids: parsed.data };
}

export function writePids(file: string, pids: Pids): void {
  writeFileAtomic.sync(file, `${JSON.stringify(PidsSchema.parse(pids))}\n`, { mode: 0o600, fsync: false });
}

/** Each recorded role with its current state. */
export function recordedStates(pids: Pids): Array<{ role: PidRole; id: ProcessIdentity; state: ProcessState }> {
  const out: Array<{ role: PidRole; id: ProcessIdentity; state: ProcessState }> = [];
  for (const role of Object.keys(ROLE_NAMES) as PidRole[]) {
    const id = pids[role];
    if (id) out.push({ role, id, state: processState(id, pids.boot) });
  }
  return out;
}

/** A bottle runs while the CLI that owns it or its sandbox still runs. */
export function bottleRunning(pids: Pids): boolean {
  return recordedStates(pids).some((r) => r.role !== 'sidecars' && r.state === 'alive');
}

export function staleNote(role: PidRole, id: ProcessIdentity, slug: string): string {
  return `stale pid ${id.pid} recorded for the ${ROLE_NAMES[role]} of ${slug} (now another process): not signalled`;
}

/**
 * The launching CLI's record of its bottle's processes, written as each one
 * starts (the CLI first, so `stop` reaches a bottle that is still starting).
 */
export class PidRecord {
  private readonly pids: Pids;

  constructor(private readonly file: string) {
    this.pids = { boot: bootId(), cli: identify(process.pid) };
    writePids(file, this.pids);
  }

  get(role: PidRole): ProcessIdentity | undefined {
    return this.pids[role];
  }

  get boot(): string {
    return this.pids.boot;
  }

  set(role: PidRole, id: ProcessIdentity | undefined): void {
    if (!id) return;
    this.pids[role] = id;
    writePids(this.file, this.pids);
  }
}
