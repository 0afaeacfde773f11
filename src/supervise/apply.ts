import { completeRoute, EgressRoutePlanSchema, type EgressRoutePlan, type RouteMatch } from '../routes/model.js';
import type { BottleStores } from '../state/store/index.js';
import { waitUntilLive, type RouteLiveness } from '../state/store/route-ack.js';
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

/**
 * Everything applyAnswer would refuse, checked before the answer is written,
 * so an operator never sends "approved" to an agent for a change that then
 * cannot be applied (bad edit, corrupt routes file).
 */
export async function checkApplicable(
  proposal: Proposal,
  details: Record<string, unknown>,
  stores: BottleStores,
): Promise<void> {
  if (proposal.kind === 'egress-block') {
    routeFromEgressBlock(details);
    await stores.routes.readLive().catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; refusing to rewrite it`, { cause: err });
    });
    await stores.routes.readApproved();
  } else if (proposal.kind === 'capability-block') {
    const parsed = CapabilityBlockInput.safeParse(details);
    if (!parsed.success) throw new Error(`capability-block details are invalid: ${formatIssues(parsed.error)}`);
    await stores.approvals.readCapabilities();
  }
}

/** How long the console waits for egress to acknowledge a new route before it says it could not confirm it. */
const ROUTE_ACK_TIMEOUT_MS = 5_000;

export async function applyAnswer(
  proposal: Proposal,
  answer: Answer,
  stores: BottleStores,
  auditLog: string,
): Promise<ApplyResult> {
  if (answer.status !== 'approved' && answer.status !== 'modified') return { applied: false, summary: `${answer.status}: nothing to apply` };
  const details = effectiveDetails(proposal, answer);
  let result: ApplyResult;
  switch (proposal.kind) {
    case 'egress-block': {
      const route = routeFromEgressBlock(details);
      // No live table means the bottle is not running: `resume` picks the route up from the approved routes.
      const generation = await stores.routes.updateLive((routes) => mergeRoute(routes, route));
      await stores.routes.updateApproved((approved) => mergeRoute(approved, route));
      const what = `${route.host}:${route.port}${route.matches.length ? ' (limited to the listed methods/paths)' : ''}`;
      if (generation === undefined) {
        result = { applied: true, summary: `route ${what} kept for resume (bottle not running)` };
        break;
      }
      const live = await waitUntilLive(stores.routes, (routes) => routes.some((r) => r.host === route.host && r.port === route.port), { timeoutMs: ROUTE_ACK_TIMEOUT_MS });
      result = { applied: true, summary: describeLiveness(what, live) };
      break;
    }
    case 'capability-block': {
      const parsed = CapabilityBlockInput.safeParse(details);
      if (!parsed.success) throw new Error(`capability-block details are invalid: ${formatIssues(parsed.error)}`);
      await stores.approvals.updateCapabilities((list) =>
        list.some((c) => c.id === proposal.id)
          ? list
          : [...list, { id: proposal.id, change: parsed.data.change, reason: parsed.data.reason, approved_at: answer.answered_at, by: answer.by }],
      );
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

/** The console's line for an approved route, from what egress said about it. */
export function describeLiveness(what: string, live: RouteLiveness): string {
  switch (live.state) {
    case 'applied':
    case 'written':
      return `route ${what} is live and kept for resume`;
    case 'refused':
      return `route ${what} is kept for resume, but egress refused the new route table and keeps the previous one: ${live.error}`;
    case 'not-running':
      return `route ${what} kept for resume (bottle not running)`;
    case 'unconfirmed':
      return `route ${what} is in the route table and kept for resume (egress has not confirmed it is live)`;
  }
}
