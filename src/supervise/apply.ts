import { mkdir, readFile, rmdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { z, type core } from 'zod';
import { completeRoute, EgressRoutePlanSchema, type EgressRoutePlan, type RouteMatch } from '../routes/model.js';
import type { BottleStatePaths } from '../state/paths.js';
import { appendAudit } from './audit.js';
import { CapabilityBlockInput, EgressBlockDetails, formatIssues } from './proposals.js';
import type { Answer, Proposal } from './queue.js';

/*
 * Where answers are applied: in the process that wins the answer (the
 * operator's console or `supervise approve`), right after the exclusive
 * answer file is created. That process runs on the host, and the state
 * directory (routes file, approved-*.json) is on the host for every backend,
 * so one code path works for docker, VMs and bwrap alike, and nothing inside
 * the bottle's reach can apply a change. The sidecar only relays the answer
 * to the agent; egress picks the new routes file up on its own (it watches
 * the file). A late answer never reaches this code: the queue reports it as
 * late and the caller stops.
 */

export interface ApplyResult {
  applied: boolean;
  summary: string;
}

export const ApprovedCapabilitySchema = z.object({
  id: z.string(),
  change: z.string(),
  reason: z.string(),
  approved_at: z.string(),
  by: z.string(),
});
export type ApprovedCapability = z.infer<typeof ApprovedCapabilitySchema>;

/** The details that take effect: the operator's edit for `modified`, else the agent's ask. */
export function effectiveDetails(proposal: Proposal, answer: Answer): Record<string, unknown> {
  return answer.status === 'modified' && answer.details ? answer.details : proposal.details;
}

/** Checks an operator's edit before it is written as a `modified` answer. */
export function validateEdit(proposal: Proposal, details: unknown): Record<string, unknown> {
  const schema = proposal.kind === 'egress-block' ? EgressBlockDetails : proposal.kind === 'capability-block' ? CapabilityBlockInput : undefined;
  if (!schema) {
    if (details === null || typeof details !== 'object' || Array.isArray(details)) throw new Error('edited details must be a JSON object');
    return details as Record<string, unknown>;
  }
  const parsed = schema.safeParse(details);
  if (!parsed.success) throw new Error(`edited ${proposal.kind} details are invalid: ${formatIssues(parsed.error)}`);
  return parsed.data;
}

export function routeFromEgressBlock(details: Record<string, unknown>): EgressRoutePlan {
  const parsed = EgressBlockDetails.safeParse(details);
  if (!parsed.success) throw new Error(`egress-block details are invalid: ${formatIssues(parsed.error)}`);
  const d = parsed.data;
  const methods = d.methods ?? [];
  const paths = d.paths ?? [];
  const matches: RouteMatch[] =
    methods.length === 0 && paths.length === 0
      ? []
      : [{ methods, paths: paths.map((value) => ({ type: 'prefix' as const, value })), headers: [] }];
  return EgressRoutePlanSchema.parse(completeRoute({ host: d.host, port: d.port, matches, source: 'supervise' }));
}

/**
 * Adds `route` to a live table. A route for the same host and port already
 * exists: widen its matches instead of adding a second entry the matcher might
 * never reach (an empty match list already allows everything).
 */
export function mergeRoute(routes: EgressRoutePlan[], route: EgressRoutePlan): EgressRoutePlan[] {
  const i = routes.findIndex((r) => r.host === route.host && r.port === route.port);
  if (i < 0) return [...routes, route];
  const existing = routes[i] as EgressRoutePlan;
  const matches = existing.matches.length === 0 || route.matches.length === 0 ? [] : [...existing.matches, ...route.matches];
  return routes.map((r, j) => (j === i ? { ...existing, matches } : r));
}

async function readRoutes(file: string): Promise<EgressRoutePlan[] | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = z.array(EgressRoutePlanSchema).safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${file} is not a valid routes file (${formatIssues(parsed.error)}); refusing to rewrite it`);
  return parsed.data;
}

async function readList<S extends core.$ZodType>(file: string, schema: S): Promise<core.output<S>[]> {
  try {
    const parsed = z.array(schema).safeParse(JSON.parse(await readFile(file, 'utf8')));
    if (!parsed.success) throw new Error(`${file} is invalid (${formatIssues(parsed.error)}); refusing to rewrite it`);
    return parsed.data;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
}

/**
 * Read-modify-write of a shared file by two consoles at once would lose one
 * change, so each rewrite holds a directory lock (mkdir is atomic). Bounded:
 * a lock older than 30 s is considered abandoned by a crashed process.
 */
async function withLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
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

/**
 * Everything applyAnswer would refuse, checked before the answer is written,
 * so an operator never sends "approved" to an agent for a change that then
 * cannot be applied (bad edit, corrupt routes file).
 */
export async function checkApplicable(
  proposal: Proposal,
  details: Record<string, unknown>,
  paths: Pick<BottleStatePaths, 'egressRoutes' | 'approvedRoutes' | 'approvedCapabilities'>,
): Promise<void> {
  if (proposal.kind === 'egress-block') {
    routeFromEgressBlock(details);
    await readRoutes(paths.egressRoutes);
    await readList(paths.approvedRoutes, EgressRoutePlanSchema);
  } else if (proposal.kind === 'capability-block') {
    const parsed = CapabilityBlockInput.safeParse(details);
    if (!parsed.success) throw new Error(`capability-block details are invalid: ${formatIssues(parsed.error)}`);
    await readList(paths.approvedCapabilities, ApprovedCapabilitySchema);
  }
}

export async function applyAnswer(
  proposal: Proposal,
  answer: Answer,
  paths: Pick<BottleStatePaths, 'egressRoutes' | 'approvedRoutes' | 'approvedCapabilities'>,
  auditLog: string,
): Promise<ApplyResult> {
  if (answer.status !== 'approved' && answer.status !== 'modified') return { applied: false, summary: `${answer.status}: nothing to apply` };
  const details = effectiveDetails(proposal, answer);
  let result: ApplyResult;
  switch (proposal.kind) {
    case 'egress-block': {
      const route = routeFromEgressBlock(details);
      const live = await withLock(paths.egressRoutes, async () => {
        const routes = await readRoutes(paths.egressRoutes);
        // No routes file means the bottle is not running: `resume` picks the route up from approvedRoutes.
        if (routes === undefined) return false;
        await writeJson(paths.egressRoutes, mergeRoute(routes, route));
        return true;
      });
      await withLock(paths.approvedRoutes, async () => {
        const approved = await readList(paths.approvedRoutes, EgressRoutePlanSchema);
        await writeJson(paths.approvedRoutes, mergeRoute(approved, route));
      });
      const what = `${route.host}:${route.port}${route.matches.length ? ' (limited to the listed methods/paths)' : ''}`;
      result = { applied: true, summary: live ? `route ${what} is live and kept for resume` : `route ${what} kept for resume (bottle not running)` };
      break;
    }
    case 'capability-block': {
      const parsed = CapabilityBlockInput.safeParse(details);
      if (!parsed.success) throw new Error(`capability-block details are invalid: ${formatIssues(parsed.error)}`);
      await withLock(paths.approvedCapabilities, async () => {
        const list = await readList(paths.approvedCapabilities, ApprovedCapabilitySchema);
        if (!list.some((c) => c.id === proposal.id)) {
          list.push({ id: proposal.id, change: parsed.data.change, reason: parsed.data.reason, approved_at: answer.answered_at, by: answer.by });
        }
        await writeJson(paths.approvedCapabilities, list);
      });
      result = { applied: true, summary: 'capability change recorded; it takes effect at the next resume' };
      break;
    }
    default:
      // egress-token-allow and git-push-allow: the sidecar that asked acts on the answer itself.
      return { applied: false, summary: `${proposal.kind}: the sidecar that asked acts on the answer` };
  }
  await appendAudit(auditLog, { event: 'applied', by: answer.by, slug: proposal.slug, id: proposal.id, kind: proposal.kind, summary: result.summary });
  return result;
}
