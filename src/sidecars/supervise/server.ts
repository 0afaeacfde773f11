import { dirname } from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { FileRoutesStore } from '../../state/store/file-routes.js';
import { waitUntilLive } from '../../state/store/route-ack.js';
import type { RoutesStore } from '../../state/store/types.js';
import { CapabilityBlockInput, EgressBlockInput } from '../../supervise/proposals.js';
import type { Answer, ProposalKind, ProposalStore } from '../../supervise/queue.js';

export interface SuperviseServerDeps {
  queue: ProposalStore;
  routesFile: string;
  /** The live route table; default: the file `routesFile` (its folder is where links are refused). */
  routes?: RoutesStore;
  proposalTimeoutMs: number;
  progressIntervalMs: number;
  log: (event: Record<string, unknown>) => void;
  /** Aborted when the daemon stops, so no waiter outlives it and marks an answer delivered. */
  shutdown: AbortSignal;
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

const DecisionOutput = {
  proposal_id: z.string(),
  status: z.enum(['approved', 'modified', 'rejected', 'timeout']),
  notes: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
};

const RouteView = z.object({
  host: z.string(),
  port: z.number(),
  matches: z.array(z.unknown()),
  auth: z.object({ scheme: z.string().optional(), header: z.string().optional(), token_ref: z.string() }).optional(),
  source: z.string(),
  git_fetch: z.boolean(),
});

/** One MCP server per HTTP request (stateless): all state is in the queue folder. */
export function createSuperviseServer(deps: SuperviseServerDeps): McpServer {
  const server = new McpServer({ name: 'bot-bottle-supervise', version: '0.1.0' });
  const routes = deps.routes ?? new FileRoutesStore(dirname(deps.routesFile), deps.routesFile);

  server.registerTool(
    'list-egress-routes',
    {
      description: 'List the egress routes this bottle may use now (hosts, ports, allowed methods/paths, auth scheme). Token values are never shown.',
      outputSchema: { routes: z.array(RouteView) },
    },
    async (): Promise<CallToolResult> => {
      const view = await readRoutesView(routes);
      return { content: [{ type: 'text', text: JSON.stringify(view, null, 2) }], structuredContent: { routes: view } };
    },
  );

  server.registerTool(
    'egress-block',
    {
      description:
        'After the egress proxy refused a request (HTTP 403), ask the operator to allow the host. Give the host (DNS name, no scheme/port/path) and why you need it; optionally narrow to HTTP methods and path prefixes. Waits for the decision and returns {status, notes}; an approved route works immediately, no restart.',
      inputSchema: EgressBlockInput,
      outputSchema: DecisionOutput,
    },
    async (args, extra) => propose('egress-block', stripUndefined(args), extra),
  );

  server.registerTool(
    'capability-block',
    {
      description:
        'Ask the operator to change the agent image (for example install a package). Describe the change and why; an approved change takes effect at the next resume of the bottle. Returns {status, notes}.',
      inputSchema: CapabilityBlockInput,
      outputSchema: DecisionOutput,
    },
    async (args, extra) => propose('capability-block', stripUndefined(args), extra),
  );

  async function propose(kind: ProposalKind, details: Record<string, unknown>, extra: Extra): Promise<CallToolResult> {
    const proposal = await deps.queue.submit(kind, details, { timeoutMs: deps.proposalTimeoutMs });
    deps.log({ event: 'proposal', id: proposal.id, kind });
    const progressToken = extra._meta?.progressToken;
    let tick = 0;
    const answer = await deps.queue.wait(proposal.id, {
      // A reused proposal (the agent retried after a restart) keeps its original deadline.
      timeoutMs: proposal.timeout_at ? Math.max(1, Date.parse(proposal.timeout_at) - Date.now()) : deps.proposalTimeoutMs,
      signal: AbortSignal.any([extra.signal, deps.shutdown]),
      progressIntervalMs: deps.progressIntervalMs,
      ...(progressToken !== undefined
        ? {
            onProgress: () => {
              tick++;
              extra
                .sendNotification({
                  method: 'notifications/progress',
                  params: { progressToken, progress: tick, message: `waiting for the operator to answer proposal ${proposal.id}` },
                })
                .catch((err: unknown) => deps.log({ event: 'progress-failed', id: proposal.id, error: String(err) }));
            },
          }
        : {}),
    });
    deps.log({ event: 'decision', id: proposal.id, kind, status: answer.status });
    if (kind === 'egress-block' && (answer.status === 'approved' || answer.status === 'modified')) {
      const details = answer.status === 'modified' && answer.details ? answer.details : proposal.details;
      if (typeof details.host === 'string') {
        // The console writes the answer first and applies it right after: an agent that retries the
        // instant it hears "approved" must not race that, nor egress loading the new table.
        const host = details.host.toLowerCase();
        const live = await waitUntilLive(routes, (table) => table.some((r) => r.host === host), { timeoutMs: ROUTE_LIVE_TIMEOUT_MS, signal: extra.signal });
        deps.log({ event: 'route-liveness', id: proposal.id, host, state: live.state });
        if (live.state === 'refused') return decisionResult(answer, refusedNote(live.error));
      }
    }
    return decisionResult(answer);
  }

  return server;
}

/** Bounded: a console that crashed between answering and applying must not hang the agent. */
const ROUTE_LIVE_TIMEOUT_MS = 10_000;

function refusedNote(error: string): string {
  return `The operator approved the route, but egress refused the new route table and keeps the previous one, so the route is not live: ${error}. Tell the operator; retrying will not help until the table is fixed.`;
}

function decisionResult(answer: Answer, problem?: string): CallToolResult {
  const given =
    answer.notes ??
    (answer.status === 'timeout'
      ? 'The operator did not answer in time. Continue without it or ask again later.'
      : answer.status === 'rejected'
        ? 'The operator rejected the proposal.'
        : '');
  const notes = problem === undefined ? given : given ? `${given}\n${problem}` : problem;
  const structured = {
    proposal_id: answer.id,
    status: answer.status,
    notes,
    ...(answer.status === 'modified' && answer.details ? { details: answer.details } : {}),
  };
  return { content: [{ type: 'text', text: JSON.stringify(structured) }], structuredContent: structured };
}

async function readRoutesView(routes: RoutesStore): Promise<z.infer<typeof RouteView>[]> {
  let live;
  try {
    live = await routes.readLive();
  } catch (err) {
    throw new Error('the routes file is invalid; ask the operator to check the bottle', { cause: err });
  }
  // Only names are shown: the slot and token value stay inside the egress sidecar.
  return (live?.routes ?? []).map((r) => ({
    host: r.host,
    port: r.port,
    matches: r.matches,
    ...(r.auth ? { auth: { ...(r.auth.scheme ? { scheme: r.auth.scheme } : {}), ...(r.auth.header ? { header: r.auth.header } : {}), token_ref: r.auth.tokenRef } } : {}),
    source: r.source,
    git_fetch: r.gitFetch,
  }));
}

function stripUndefined(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}
