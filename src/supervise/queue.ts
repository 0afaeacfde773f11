import { randomBytes } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { link, mkdir, readFile, readdir, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import * as z from 'zod/mini';
import { appendAudit } from './audit.js';

/**
 * The on-disk approval queue shared by the supervise MCP server, the sidecars
 * (egress DLP, git-gate) and the operator console. One folder per bottle:
 *
 *   <id>.proposal.json   written once, atomically (write-file-atomic)
 *   <id>.answer.json     created exclusively with link(2): the first answer wins,
 *                        so two consoles, or a console racing a timeout, can
 *                        never both answer the same proposal
 *   <id>.late-<n>.json   an operator answer that arrived after the timeout
 *   <id>.delivered       closed: the answer reached its asker, or the proposal timed out
 *
 * Everything lives in files so a restart of any process loses nothing: a
 * pending proposal is simply a proposal file without an answer file.
 */

export const PROPOSAL_KINDS = ['egress-block', 'capability-block', 'egress-token-allow', 'git-push-allow'] as const;
export type ProposalKind = (typeof PROPOSAL_KINDS)[number];
export const ANSWER_STATUSES = ['approved', 'modified', 'rejected', 'timeout'] as const;
export type AnswerStatus = (typeof ANSWER_STATUSES)[number];

export interface Proposal {
  id: string;
  slug: string;
  kind: ProposalKind;
  created_at: string;
  timeout_at?: string;
  details: Record<string, unknown>;
}

/** How far an approval of flagged values (egress-token-allow) reaches: the rest of the bottle's life, or this request. */
export const ANSWER_SCOPES = ['bottle', 'once'] as const;
export type AnswerScope = (typeof ANSWER_SCOPES)[number];

export interface Answer {
  id: string;
  status: AnswerStatus;
  /** For approvals of egress-token-allow; absent means `bottle`. */
  scope?: AnswerScope;
  notes?: string;
  details?: Record<string, unknown>;
  answered_at: string;
  by: string;
}

export const ProposalSchema = z.object({
  id: z.string(),
  slug: z.string(),
  kind: z.enum(PROPOSAL_KINDS),
  created_at: z.string(),
  timeout_at: z.optional(z.string()),
  details: z.record(z.string(), z.unknown()),
});

export const AnswerSchema = z.object({
  id: z.string(),
  status: z.enum(ANSWER_STATUSES),
  scope: z.optional(z.enum(ANSWER_SCOPES)),
  notes: z.optional(z.string()),
  details: z.optional(z.record(z.string(), z.unknown())),
  answered_at: z.string(),
  by: z.string(),
});

/** Ids are file-name components and are typed by operators: keep them short and inert. */
const ID_RE = /^[0-9a-z]{8,12}-[0-9a-f]{8}$/;
const SLUG_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** Who answers when nobody did in time. */
export const TIMEOUT_ACTOR = 'supervise-timeout';

export function isProposalId(id: string): boolean {
  return ID_RE.test(id);
}

function newId(): string {
  // Time first so ids sort roughly by age; 32 random bits so two bottles never collide.
  return `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

function checkId(id: string): void {
  if (!ID_RE.test(id)) throw new Error(`proposal id ${JSON.stringify(id)} is malformed (expected e.g. "mfz3k2a1-0a1b2c3d")`);
}

function isCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/** Stable key so the same ask made twice (e.g. by an agent retrying after a restart) maps to one proposal. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export interface QueueEntry {
  proposal: Proposal;
  answer?: Answer;
}

export type AnswerOutcome =
  | { outcome: 'answered'; answer: Answer }
  /** The proposal had already timed out: recorded, never applied. */
  | { outcome: 'late'; answer: Answer; recorded: Answer };

export class AlreadyAnsweredError extends Error {
  constructor(readonly existing: Answer) {
    super(`proposal ${existing.id} was already answered (${existing.status} by ${existing.by} at ${existing.answered_at})`);
    this.name = 'AlreadyAnsweredError';
  }
}

export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  onProgress?: () => void;
  /** How often onProgress fires while waiting. */
  progressIntervalMs?: number;
}

/**
 * One bottle's proposals and their answers: the proposal store (the other
 * state stores are in src/state/store). The first answer wins; a later one is
 * recorded as late. `ProposalQueue` keeps it as files in the queue folder; a
 * backend whose bundle is not on the host can back it with its API server
 * (docs/design/kubernetes.md).
 */
export interface ProposalStore {
  readonly slug: string;
  /** Where applied answers are audited. */
  readonly auditLog: string;
  /** A new proposal, or the pending one with the same kind and details (an agent that retried). */
  submit(kind: ProposalKind, details: Record<string, unknown>, opts?: { timeoutMs?: number }): Promise<Proposal>;
  get(id: string): Promise<QueueEntry | undefined>;
  readAnswer(id: string): Promise<Answer | undefined>;
  list(): Promise<QueueEntry[]>;
  pending(): Promise<Proposal[]>;
  answer(id: string, input: { status: AnswerStatus; scope?: AnswerScope; notes?: string; details?: Record<string, unknown>; by: string }): Promise<AnswerOutcome>;
  /** The answer, or a timeout answer at the deadline. */
  wait(id: string, opts: WaitOptions): Promise<Answer>;
}

export class ProposalQueue implements ProposalStore {
  readonly auditLog: string;

  constructor(
    readonly dir: string,
    readonly slug: string,
  ) {
    if (!SLUG_RE.test(slug)) throw new Error(`bottle slug ${JSON.stringify(slug)} is not a valid queue folder name`);
    // The audit log is shared by every bottle so one file tells the whole story.
    this.auditLog = join(dirname(dir), 'audit.jsonl');
  }

  proposalPath(id: string): string {
    return join(this.dir, `${id}.proposal.json`);
  }

  answerPath(id: string): string {
    return join(this.dir, `${id}.answer.json`);
  }

  private deliveredPath(id: string): string {
    return join(this.dir, `${id}.delivered`);
  }

  async submit(kind: ProposalKind, details: Record<string, unknown>, opts: { timeoutMs?: number } = {}): Promise<Proposal> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const reusable = await this.findReusable(kind, details);
    if (reusable) return reusable;
    const now = Date.now();
    const proposal: Proposal = {
      id: newId(),
      slug: this.slug,
      kind,
      created_at: new Date(now).toISOString(),
      ...(opts.timeoutMs !== undefined ? { timeout_at: new Date(now + opts.timeoutMs).toISOString() } : {}),
      details,
    };
    await writeFileAtomic(this.proposalPath(proposal.id), `${JSON.stringify(proposal, null, 2)}\n`, { mode: 0o600 });
    await appendAudit(this.auditLog, { event: 'submitted', by: `bottle:${this.slug}`, slug: this.slug, id: proposal.id, kind, details });
    return proposal;
  }

  /**
   * An identical ask whose answer has not reached anyone yet (still pending,
   * or answered while the asker was restarting) is the same proposal: reuse it
   * instead of making the operator answer twice.
   */
  private async findReusable(kind: ProposalKind, details: Record<string, unknown>): Promise<Proposal | undefined> {
    const key = canonical(details);
    const { ids, delivered } = await this.scan();
    // Delivered (or timed-out) proposals are closed: skip them without reading, so
    // a long-lived bottle's history does not slow every new proposal down.
    const open = await Promise.all(ids.filter((id) => !delivered.has(id)).map((id) => this.get(id)));
    for (const entry of open) {
      if (!entry) continue;
      const p = entry.proposal;
      if (p.kind !== kind || canonical(p.details) !== key) continue;
      if (entry.answer?.status === 'timeout') continue;
      if (!entry.answer && p.timeout_at && Date.parse(p.timeout_at) <= Date.now()) continue;
      return p;
    }
    return undefined;
  }

  /** Which proposals exist and which have an answer / were closed, from file names alone. */
  private async scan(): Promise<{ ids: string[]; answered: Set<string>; delivered: Set<string> }> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (isCode(err, 'ENOENT')) return { ids: [], answered: new Set(), delivered: new Set() };
      throw err;
    }
    const ids: string[] = [];
    const answered = new Set<string>();
    const delivered = new Set<string>();
    for (const name of names) {
      const m = /^([0-9a-z]{8,12}-[0-9a-f]{8})\.(proposal\.json|answer\.json|delivered)$/.exec(name);
      if (!m?.[1]) continue;
      if (m[2] === 'proposal.json') ids.push(m[1]);
      else if (m[2] === 'answer.json') answered.add(m[1]);
      else delivered.add(m[1]);
    }
    return { ids, answered, delivered };
  }

  async get(id: string): Promise<QueueEntry | undefined> {
    checkId(id);
    const proposal = await readProposalFile(this.proposalPath(id));
    if (!proposal) return undefined;
    const answer = await readAnswerFile(this.answerPath(id));
    return answer ? { proposal, answer } : { proposal };
  }

  async readAnswer(id: string): Promise<Answer | undefined> {
    checkId(id);
    return readAnswerFile(this.answerPath(id));
  }

  /** Every proposal of this bottle, oldest first. */
  async list(): Promise<QueueEntry[]> {
    const { ids } = await this.scan();
    const entries = await Promise.all(ids.map((id) => this.get(id)));
    return entries.filter((e): e is QueueEntry => e !== undefined).sort(byAge);
  }

  /** Unanswered and not yet expired: what an operator can still usefully answer. */
  async pending(): Promise<Proposal[]> {
    const { ids, answered } = await this.scan();
    const now = Date.now();
    const proposals = await Promise.all(ids.filter((id) => !answered.has(id)).map((id) => readProposalFile(this.proposalPath(id))));
    return proposals
      .filter((p): p is Proposal => p !== undefined && !(p.timeout_at && Date.parse(p.timeout_at) <= now))
      .sort((a, b) => byAge({ proposal: a }, { proposal: b }));
  }

  /**
   * Records an answer. Exactly one answer per proposal ever wins (link(2) fails
   * with EEXIST for the loser). An operator answer after the proposal's
   * timeout is kept as a late record and reported as such; callers must not apply it.
   */
  async answer(id: string, input: { status: AnswerStatus; scope?: AnswerScope; notes?: string; details?: Record<string, unknown>; by: string }): Promise<AnswerOutcome> {
    checkId(id);
    const proposal = await readProposalFile(this.proposalPath(id));
    if (!proposal) throw new Error(`no proposal ${id} in ${this.dir}`);
    const answer: Answer = {
      id,
      status: input.status,
      ...(input.scope !== undefined ? { scope: input.scope } : {}),
      ...(input.notes !== undefined ? { notes: input.notes } : {}),
      ...(input.details !== undefined ? { details: input.details } : {}),
      answered_at: new Date().toISOString(),
      by: input.by,
    };
    if (input.status !== 'timeout' && proposal.timeout_at && Date.parse(proposal.timeout_at) <= Date.now()) {
      // The asker may be gone (restart) and never wrote the timeout: write it now so
      // the outcome does not depend on which process happens to be alive.
      await this.expire(proposal);
    }
    if (await this.createExclusive(this.answerPath(id), answer)) {
      await appendAudit(this.auditLog, {
        event: answer.status,
        by: answer.by,
        slug: this.slug,
        id,
        kind: proposal.kind,
        ...(answer.scope !== undefined ? { scope: answer.scope } : {}),
        ...(answer.notes !== undefined ? { reason: answer.notes } : {}),
        details: answer.details ?? proposal.details,
      });
      return { outcome: 'answered', answer };
    }
    const existing = await readAnswerFile(this.answerPath(id));
    if (!existing) throw new Error(`answer file for ${id} exists but cannot be read`);
    if (existing.status === 'timeout' && input.status !== 'timeout') {
      await this.recordLate(proposal, answer);
      return { outcome: 'late', answer: existing, recorded: answer };
    }
    throw new AlreadyAnsweredError(existing);
  }

  private async expire(proposal: Proposal): Promise<Answer> {
    const outcome = await this.createExclusive(this.answerPath(proposal.id), {
      id: proposal.id,
      status: 'timeout',
      notes: 'no answer before the proposal timed out',
      answered_at: new Date().toISOString(),
      by: TIMEOUT_ACTOR,
    });
    const current = await readAnswerFile(this.answerPath(proposal.id));
    if (!current) throw new Error(`answer file for ${proposal.id} vanished`);
    await writeFile(this.deliveredPath(proposal.id), '', { flag: 'a' });
    if (outcome) {
      await appendAudit(this.auditLog, { event: 'timeout', by: TIMEOUT_ACTOR, slug: this.slug, id: proposal.id, kind: proposal.kind });
    }
    return current;
  }

  private async recordLate(proposal: Proposal, answer: Answer): Promise<void> {
    for (let n = 1; n <= 100; n++) {
      if (await this.createExclusive(join(this.dir, `${proposal.id}.late-${n}.json`), answer)) break;
    }
    await appendAudit(this.auditLog, {
      event: 'late',
      by: answer.by,
      slug: this.slug,
      id: proposal.id,
      kind: proposal.kind,
      status: answer.status,
      ...(answer.notes !== undefined ? { reason: answer.notes } : {}),
      note: 'answer arrived after the timeout; recorded, not applied',
    });
  }

  /** Atomic (temp file + link) and exclusive (link fails if the target exists). */
  private async createExclusive(target: string, value: unknown): Promise<boolean> {
    const tmp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    try {
      await link(tmp, target);
      return true;
    } catch (err) {
      if (isCode(err, 'EEXIST')) return false;
      throw err;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /**
   * Resolves with the operator's answer, or a 'timeout' answer once timeoutMs
   * elapses. That timeout is final (written, later answers are late) when the
   * proposal has no timeout_at or it has passed; otherwise the proposal stays
   * open for the operator and a later wait can still receive the answer. Watches the folder and also re-checks periodically, because
   * fs.watch can miss events (network file systems, bind mounts).
   */
  async wait(id: string, opts: WaitOptions): Promise<Answer> {
    checkId(id);
    const proposal = await readProposalFile(this.proposalPath(id));
    if (!proposal) throw new Error(`no proposal ${id} in ${this.dir}`);
    const deadline = Date.now() + opts.timeoutMs;
    const progressEvery = Math.max(50, opts.progressIntervalMs ?? 5_000);
    const pollEvery = 500;
    let nextProgress = Date.now() + progressEvery;

    let wake: (() => void) | undefined;
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(this.dir, () => wake?.());
      watcher.on('error', () => undefined);
    } catch {
      watcher = undefined; // polling alone still works
    }
    try {
      // Bounded: each turn sleeps at least until the next poll, and the deadline ends it.
      for (;;) {
        if (opts.signal?.aborted) throw abortError(opts.signal);
        const answer = await readAnswerFile(this.answerPath(id));
        if (answer) {
          if (answer.status !== 'timeout') await writeFile(this.deliveredPath(id), '', { flag: 'a' });
          return answer;
        }
        const now = Date.now();
        if (now >= deadline) {
          // The waiter's patience can be shorter than the proposal's life (git-gate
          // answers a push "pending" and lets the operator approve later): the
          // proposal only closes as timed out once its own timeout_at has passed.
          if (proposal.timeout_at && Date.parse(proposal.timeout_at) > now) {
            return { id, status: 'timeout', notes: `stopped waiting; the proposal stays open until ${proposal.timeout_at}`, answered_at: new Date(now).toISOString(), by: TIMEOUT_ACTOR };
          }
          return await this.expire(proposal);
        }
        if (opts.onProgress && now >= nextProgress) {
          opts.onProgress();
          nextProgress = now + progressEvery;
        }
        const sleepMs = Math.min(pollEvery, deadline - now, opts.onProgress ? nextProgress - now : pollEvery);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, Math.max(1, sleepMs));
          function done(): void {
            clearTimeout(timer);
            wake = undefined;
            opts.signal?.removeEventListener('abort', done);
            resolve();
          }
          wake = done;
          opts.signal?.addEventListener('abort', done, { once: true });
        });
      }
    } finally {
      watcher?.close();
    }
  }
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('wait aborted');
}

function byAge(a: QueueEntry, b: QueueEntry): number {
  const t = Date.parse(a.proposal.created_at) - Date.parse(b.proposal.created_at);
  return t !== 0 ? t : a.proposal.id < b.proposal.id ? -1 : a.proposal.id > b.proposal.id ? 1 : 0;
}

// The schemas' inferred types spell optional fields as `T | undefined`; files we
// wrote never contain explicit undefined, so the narrower interfaces are exact.
async function readProposalFile(path: string): Promise<Proposal | undefined> {
  return (await readJson(path, ProposalSchema)) as Proposal | undefined;
}

async function readAnswerFile(path: string): Promise<Answer | undefined> {
  return (await readJson(path, AnswerSchema)) as Answer | undefined;
}

async function readJson(path: string, schema: z.ZodMiniType): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isCode(err, 'ENOENT')) return undefined;
    throw err;
  }
  const parsed = schema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${path} is not a valid queue file: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

/** Every bottle's queue under the queue root, for the console. */
export async function listQueues(queueRoot: string): Promise<ProposalQueue[]> {
  let names: string[];
  try {
    names = await readdir(queueRoot, { withFileTypes: true }).then((d) => d.filter((e) => e.isDirectory()).map((e) => e.name));
  } catch (err) {
    if (isCode(err, 'ENOENT')) return [];
    throw err;
  }
  return names.filter((n) => SLUG_RE.test(n)).sort().map((n) => new ProposalQueue(join(queueRoot, n), n));
}

/** Pending proposals across every bottle, oldest first. */
export async function listAllPending(queueRoot: string): Promise<Proposal[]> {
  const all: QueueEntry[] = [];
  for (const q of await listQueues(queueRoot)) for (const p of await q.pending()) all.push({ proposal: p });
  return all.sort(byAge).map((e) => e.proposal);
}

export async function findProposal(queueRoot: string, id: string): Promise<{ queue: ProposalQueue; entry: QueueEntry } | undefined> {
  checkId(id);
  for (const queue of await listQueues(queueRoot)) {
    const entry = await queue.get(id);
    if (entry) return { queue, entry };
  }
  return undefined;
}
