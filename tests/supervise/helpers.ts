import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { EgressRoutePlan } from '../../src/routes/model.js';
import { startSupervise, type SuperviseHandle } from '../../src/sidecars/supervise/index.js';
import { listAllPending, type Proposal } from '../../src/supervise/queue.js';
import { bottleStatePaths, homePaths, queueDir } from '../../src/state/paths.js';

export async function tempHome(): Promise<{ home: string; cleanup: () => Promise<void> }> {
  const home = await mkdtemp(join(tmpdir(), 'bb-supervise-'));
  return { home, cleanup: () => rm(home, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }) };
}

export const manifestRoute: EgressRoutePlan = {
  host: 'api.github.com',
  port: 443,
  auth: { scheme: 'Bearer', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'GITHUB_TOKEN' },
  matches: [],
  dlp: { outbound: ['token_patterns', 'known_secrets'], inbound: [], onMatch: 'block' },
  gitFetch: false,
  source: 'manifest',
};

export async function writeRoutes(home: string, slug: string, routes: EgressRoutePlan[]): Promise<string> {
  const file = bottleStatePaths(slug, home).egressRoutes;
  await mkdir(bottleStatePaths(slug, home).dir, { recursive: true });
  await writeFile(file, JSON.stringify(routes));
  return file;
}

export async function startFor(
  home: string,
  slug: string,
  opts: { proposalTimeoutMs?: number; progressIntervalMs?: number; port?: number } = {},
): Promise<{ handle: SuperviseHandle; logs: Record<string, unknown>[] }> {
  const logs: Record<string, unknown>[] = [];
  const handle = await startSupervise(
    {
      listen: { host: '127.0.0.1', port: opts.port ?? 0 },
      queueDir: queueDir(slug, home),
      routesFile: bottleStatePaths(slug, home).egressRoutes,
      ...(opts.proposalTimeoutMs !== undefined ? { proposalTimeoutMs: opts.proposalTimeoutMs } : {}),
      ...(opts.progressIntervalMs !== undefined ? { progressIntervalMs: opts.progressIntervalMs } : {}),
    },
    { bottle: slug, log: (e) => logs.push(e) },
  );
  return { handle, logs };
}

export async function connect(url: string): Promise<Client> {
  const client = new Client({ name: 'test-agent', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

/** Polls the queue like an operator would, bounded in time. */
export async function nextPending(home: string, count = 1, timeoutMs = 10_000): Promise<Proposal[]> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const pending = await listAllPending(homePaths(home).queueRoot);
    if (pending.length >= count) return pending;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no ${count} pending proposal(s) within ${timeoutMs} ms`);
}
